package dev.vecnorm.model;

import dev.vecnorm.layers.Parameter;
import java.util.List;

/**
 * The gradient all-reduce of synchronous data-parallel training, called by
 * {@link Model#trainOnBatch(dev.vecnorm.layers.Tensor, dev.vecnorm.layers.Tensor, double, GradientReducer, float[][])}
 * between the backward pass and the optimizer step. Every replica calls it once per step with its
 * parameters in the same order; afterwards every replica must hold the same gradients, so the same
 * optimizer step keeps the replicas' weights identical.
 */
@FunctionalInterface
public interface GradientReducer {

  /**
   * Replaces each parameter's gradient by its sum over the replicas.
   *
   * @param parameters this replica's trainable parameters, in model order, with this replica's gradients
   */
  void allReduceSum(List<Parameter> parameters);
}
