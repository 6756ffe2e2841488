package dev.vecnorm;

/** Which batch variance feeds the moving variance during training. */
public enum MovingVariance {
  /** Keras/TensorFlow: the biased batch variance ({@code M2 / count}), the same one used to normalize. */
  BIASED,
  /**
   * PyTorch's {@code running_var}: the unbiased estimate {@code M2 / (count - 1)}, while the batch is
   * still normalized with the biased one. Note PyTorch's {@code momentum} weighs the new value, so
   * torch {@code momentum=0.1} is Keras/vecnorm {@code momentum=0.9}.
   */
  UNBIASED
}
