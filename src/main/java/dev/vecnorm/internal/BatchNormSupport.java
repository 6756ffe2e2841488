package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;

/**
 * The kernels behind {@code dev.vecnorm.BatchNorm}, one scalar and one Vector API implementation.
 *
 * <p>Tensors are little-endian float32 in a {@link MemorySegment} at a byte offset, viewed as
 * {@code [outer, channels, inner]} row-major. Per-channel arrays have exactly {@code channels}
 * elements. Callers (the public facade) have validated every argument; implementations only assert.
 * {@code gamma == null} means scale 1, {@code beta == null} means shift 0. Output tensors may be the
 * same memory as an input at the same offset; kernels read each element before writing it.
 */
public interface BatchNormSupport {

  /** Short name for logs and benchmark labels: "scalar" or "panama". */
  String name();

  /**
   * Per-channel mean and M2 (sum of squared deviations from the mean) over {@code outer * inner}
   * elements, computed by cache blocks, each two-pass, merged with Chan's formula.
   */
  void moments(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean, float[] m2);

  /**
   * {@code y = (x - mean) * gamma * invStd + beta}. When {@code fromVariance} is true the array
   * {@code scale} holds variances and {@code invStd = 1 / sqrt(variance + epsilon)} is derived per
   * channel; otherwise {@code scale} already holds invStd and epsilon is unused.
   */
  void normalize(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels, int inner,
                 float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta);

  /** {@code sumDy[c] = sum dy}, {@code sumDyXhat[c] = sum dy * (x - mean) * invStd}, over the channel. */
  void backwardReduce(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels, int inner,
                      float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat);

  /**
   * {@code dx = gamma * invStd * (dy - sumDy/count - xhat * sumDyXhat/count)} with
   * {@code xhat = (x - mean) * invStd}; {@code count} is the (possibly global) element count per channel.
   */
  void backwardApply(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                     int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                     float[] sumDy, float[] sumDyXhat, double count);
}
