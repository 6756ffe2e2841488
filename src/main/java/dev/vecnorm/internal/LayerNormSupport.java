package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;

/**
 * The kernels behind {@code dev.vecnorm.LayerNorm} and {@code dev.vecnorm.RmsNorm}, one scalar and one
 * Vector API implementation, chosen by {@link VectorizationProvider#layerNorm()}.
 *
 * <p>A tensor is {@code rows} contiguous rows of {@code features} floats at an element offset; every
 * row is normalized over its own features. Per-feature arrays ({@code gamma}, {@code beta},
 * {@code dGamma}, {@code dBeta}) have {@code features} elements; per-row statistics are read and
 * written at {@code stats[statsOffset + row]} (the facade stages segments in blocks of rows). The
 * facade has validated everything; {@code gamma == null} means scale 1, {@code beta == null} shift 0,
 * a null statistics or gradient array is not written. An output may be the same array and offset as an
 * input: each row is read completely before any element of it is written.
 *
 * <p>Plain native segments have their own entry points ({@code forwardNative} ...), which the Vector API
 * implementation serves with a second body of its kernels ({@code PanamaNativeLayerNorm}).
 */
public interface LayerNormSupport {

  /** "scalar" or "panama". */
  String name();

  /**
   * Per row: {@code mean}, biased {@code var} (two passes over the row while it is in cache),
   * {@code invStd = 1/sqrt(var + epsilon)}, {@code y = (x - mean) * invStd * gamma + beta}.
   */
  void forward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float[] beta,
               float epsilon, float[] mean, float[] invStd, int statsOffset);

  /**
   * Per row, with {@code xhat = (x - mean) * invStd} and {@code g = dy * gamma}:
   * {@code dx = invStd * (g - mean(g) - xhat * mean(g * xhat))}; <em>adds</em> {@code dy * xhat} into
   * {@code dGamma} and {@code dy} into {@code dBeta} (the caller zeroes them once per call).
   */
  void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta);

  /** Per row: {@code invRms = 1/sqrt(mean(x^2) + epsilon)}, {@code y = x * invRms * gamma}. */
  void rmsForward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float epsilon,
                  float[] invRms, int statsOffset);

  /**
   * Per row, with {@code r = invRms} and {@code g = dy * gamma}: {@code dx = r * g - x * r^3 * mean(g * x)};
   * <em>adds</em> {@code dy * x * r} into {@code dGamma}.
   */
  void rmsBackward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                   float[] gamma, float[] invRms, int statsOffset, float[] dGamma);

  // Plain native segments (isNative(), not mapped), byte offsets: the same bits as the array kernels on the same
  // data, without staging. False, having written nothing, where an implementation has no such body (the caller stages).

  /** {@link #forward} on native segments at byte offsets; false if not supported. */
  default boolean forwardNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                                float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    return false;
  }

  /** {@link #backward} on native segments at byte offsets; false if not supported. */
  default boolean backwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                 int rows, int features, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                                 float[] dBeta) {
    return false;
  }

  /** {@link #rmsForward} on native segments at byte offsets; false if not supported. */
  default boolean rmsForwardNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                                   float epsilon, float[] invRms, int statsOffset) {
    return false;
  }

  /** {@link #rmsBackward} on native segments at byte offsets; false if not supported. */
  default boolean rmsBackwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                    int rows, int features, float[] gamma, float[] invRms, int statsOffset, float[] dGamma) {
    return false;
  }
}
