package dev.vecnorm.model;

import dev.vecnorm.layers.Parameter;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** Keras's optimizers: one step over the trainable parameters, then their constraints. */
public abstract sealed class Optimizer {
  /** Step size of the update, finite and greater than 0. */
  protected double learningRate;

  /**
   * Checks and stores the learning rate.
   *
   * @param learningRate step size, finite and greater than 0
   * @throws IllegalArgumentException if {@code learningRate} is not finite and greater than 0
   */
  protected Optimizer(double learningRate) {
    if (!(learningRate > 0) || Double.isInfinite(learningRate)) {
      throw new IllegalArgumentException("learningRate must be finite and > 0, got " + learningRate);
    }
    this.learningRate = learningRate;
  }

  /**
   * The step size.
   *
   * @return the learning rate
   */
  public double learningRate() {
    return learningRate;
  }

  /**
   * One update of every parameter from its gradient, then its constraint.
   *
   * @param params the trainable parameters, with their gradients filled
   */
  public void step(List<Parameter> params) {
    for (Parameter p : params) {
      update(p);
      p.applyConstraint();
    }
  }

  /**
   * Updates one parameter's values from its gradient.
   *
   * @param p the parameter; its values change in place
   */
  protected abstract void update(Parameter p);

  /**
   * SGD with optional momentum and Nesterov, Keras's update rule: {@code v = m*v - lr*g; w += v} (Nesterov: {@code w += m*v - lr*g}).
   *
   * @param learningRate step size, finite and greater than 0
   * @return plain SGD without momentum
   */
  public static Optimizer sgd(double learningRate) {
    return new Sgd(learningRate, 0, false);
  }

  /**
   * SGD with momentum, Keras's {@code SGD(learning_rate, momentum, nesterov)}.
   *
   * @param learningRate step size, finite and greater than 0
   * @param momentum velocity decay, in [0, 1)
   * @param nesterov true for Nesterov momentum
   * @return the optimizer
   */
  public static Optimizer sgd(double learningRate, double momentum, boolean nesterov) {
    return new Sgd(learningRate, momentum, nesterov);
  }

  /**
   * Adam with Keras's defaults {@code beta1=0.9, beta2=0.999, epsilon=1e-7}.
   *
   * @param learningRate step size, finite and greater than 0
   * @return the optimizer
   */
  public static Optimizer adam(double learningRate) {
    return new Adam(learningRate, 0.9, 0.999, 1e-7);
  }

  static final class Sgd extends Optimizer {
    private final double momentum;
    private final boolean nesterov;
    private final Map<Parameter, float[]> velocity = new IdentityHashMap<>();

    Sgd(double learningRate, double momentum, boolean nesterov) {
      super(learningRate);
      if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
      this.momentum = momentum;
      this.nesterov = nesterov;
    }

    @Override
    protected void update(Parameter p) {
      float[] w = p.value(), g = p.grad();
      if (momentum == 0) {
        for (int i = 0; i < w.length; i++) w[i] -= (float) (learningRate * g[i]);
        return;
      }
      float[] v = velocity.computeIfAbsent(p, k -> new float[w.length]);
      for (int i = 0; i < w.length; i++) {
        v[i] = (float) (momentum * v[i] - learningRate * g[i]);
        w[i] += nesterov ? (float) (momentum * v[i] - learningRate * g[i]) : v[i];
      }
    }
  }

  static final class Adam extends Optimizer {
    private final double beta1, beta2, epsilon;
    private final Map<Parameter, float[][]> state = new IdentityHashMap<>();
    private final Map<Parameter, int[]> steps = new IdentityHashMap<>();

    Adam(double learningRate, double beta1, double beta2, double epsilon) {
      super(learningRate);
      this.beta1 = beta1;
      this.beta2 = beta2;
      this.epsilon = epsilon;
    }

    @Override
    protected void update(Parameter p) {
      float[] w = p.value(), g = p.grad();
      float[][] mv = state.computeIfAbsent(p, k -> new float[][] {new float[w.length], new float[w.length]});
      int t = ++steps.computeIfAbsent(p, k -> new int[1])[0];
      double alpha = learningRate * Math.sqrt(1 - Math.pow(beta2, t)) / (1 - Math.pow(beta1, t));
      float[] m = mv[0], v = mv[1];
      for (int i = 0; i < w.length; i++) {
        m[i] = (float) (beta1 * m[i] + (1 - beta1) * g[i]);
        v[i] = (float) (beta2 * v[i] + (1 - beta2) * g[i] * g[i]);
        w[i] -= (float) (alpha * m[i] / (Math.sqrt(v[i]) + epsilon));
      }
    }
  }
}
