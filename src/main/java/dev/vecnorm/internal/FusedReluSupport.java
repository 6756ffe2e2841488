package dev.vecnorm.internal;

/**
 * Batch norm fused with ReLU, optionally after adding a residual (the ResNet block's BN, add, ReLU),
 * in one pass per direction, as oneDNN's {@code fuse_norm_relu}. The ReLU mask is not stored: it is
 * recomputed from the forward output {@code y} ({@code y > 0}), which backward reads anyway in place of
 * a workspace. Tensors and per-channel arrays as in {@link BatchNormSupport}.
 */
public interface FusedReluSupport {

  /** {@code y = max(0, (x - mean) * gamma * invStd + beta + residual)}; residual may be null. */
  void normalizeRelu(float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset,
                     int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] beta);

  /** {@code sumDy} and {@code sumDyXhat} of {@code g = dy * [y > 0]}, the gradient entering the batch norm. */
  void backwardReduceRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer, int channels,
                          int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat);

  /**
   * {@link #backwardReduceRelu} of a chunk of a tensor of {@code tensorFloats} floats, as {@code ParallelBatchNorm} calls
   * it: the walk may follow the whole tensor's size (as {@code BatchNormSupport.backwardReduceChunk}); the same results.
   */
  default void backwardReduceReluChunk(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, int outer,
                                       int channels, int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat,
                                       long tensorFloats) {
    backwardReduceRelu(x, xOffset, y, yOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
  }

  /**
   * {@code dx = a*g + b*(x - mean) + k} with {@code g = dy * [y > 0]} and the coefficients of
   * {@link BatchNormSupport#backwardApply}; when {@code dResidual} is not null it receives {@code g}.
   */
  void backwardApplyRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                         float[] dResidual, int dResidualOffset, int outer, int channels, int inner, float[] mean,
                         float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count);

  /**
   * {@link #backwardReduceRelu} then {@link #backwardApplyRelu} in one call, where the implementation has a faster walk
   * with the same bits (channel by channel, as {@link BatchNormSupport#backward}); false, having written nothing, where
   * it has none and the caller runs the two.
   */
  default boolean backwardRelu(float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                               float[] dResidual, int dResidualOffset, int outer, int channels, int inner, float[] mean,
                               float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    return false;
  }
}
