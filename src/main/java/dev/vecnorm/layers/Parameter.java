package dev.vecnorm.layers;

/**
 * A weight with its gradient buffer. Trainable parameters are what optimizers update; after each update
 * the parameter's constraint (if any) is applied, as Keras does.
 */
public final class Parameter {
  private final String name;
  private final float[] value;
  private final float[] grad;
  private final boolean trainable;
  private final Regularizer regularizer;
  private final Constraint constraint;

  /**
   * A weight; its gradient buffer starts at 0.
   *
   * @param name the weight name, for example {@code "kernel"}
   * @param value the values, used (not copied)
   * @param trainable whether optimizers update it
   * @param regularizer its penalty, or null for none
   * @param constraint applied after each update, or null for none
   */
  public Parameter(String name, float[] value, boolean trainable, Regularizer regularizer, Constraint constraint) {
    this.name = name;
    this.value = value;
    this.grad = new float[value.length];
    this.trainable = trainable;
    this.regularizer = regularizer;
    this.constraint = constraint;
  }

  /**
   * The layer name, unique within a model.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * The live values.
   *
   * @return the value array (not a copy)
   */
  public float[] value() {
    return value;
  }

  /**
   * The live gradient buffer, of the values' length; backward adds to it.
   *
   * @return the gradient array
   */
  public float[] grad() {
    return grad;
  }

  /**
   * Whether optimizers update this weight.
   *
   * @return true when trainable
   */
  public boolean trainable() {
    return trainable;
  }

  /**
   * The penalty on this weight.
   *
   * @return the regularizer, or null
   */
  public Regularizer regularizer() {
    return regularizer;
  }

  /**
   * The constraint applied after each update.
   *
   * @return the constraint, or null
   */
  public Constraint constraint() {
    return constraint;
  }

  /**
   * The regularization penalty of this weight, with its gradient added to {@link #grad()}.
   *
   * @return the penalty, 0 without a regularizer
   */
  public double addRegularization() {
    if (regularizer == null) return 0;
    regularizer.addGradient(value, grad);
    return regularizer.loss(value);
  }

  /** Applies the constraint, if any, to the values in place. */
  public void applyConstraint() {
    if (constraint != null) constraint.apply(value);
  }

  /** Sets the gradient to 0. */
  public void zeroGrad() {
    java.util.Arrays.fill(grad, 0f);
  }
}
