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

  public Parameter(String name, float[] value, boolean trainable, Regularizer regularizer, Constraint constraint) {
    this.name = name;
    this.value = value;
    this.grad = new float[value.length];
    this.trainable = trainable;
    this.regularizer = regularizer;
    this.constraint = constraint;
  }

  public String name() {
    return name;
  }

  public float[] value() {
    return value;
  }

  public float[] grad() {
    return grad;
  }

  public boolean trainable() {
    return trainable;
  }

  public Regularizer regularizer() {
    return regularizer;
  }

  public Constraint constraint() {
    return constraint;
  }

  /** The regularization penalty of this weight, with its gradient added to {@link #grad()}. */
  public double addRegularization() {
    if (regularizer == null) return 0;
    regularizer.addGradient(value, grad);
    return regularizer.loss(value);
  }

  public void applyConstraint() {
    if (constraint != null) constraint.apply(value);
  }

  public void zeroGrad() {
    java.util.Arrays.fill(grad, 0f);
  }
}
