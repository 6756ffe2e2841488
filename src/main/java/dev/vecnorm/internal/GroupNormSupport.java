package dev.vecnorm.internal;

/**
 * The kernels behind {@code dev.vecnorm.GroupNorm}, one scalar and one Vector API implementation,
 * chosen by {@link VectorizationProvider#groupNorm()}.
 *
 * <p>A tensor is {@code batch} samples of {@code channels * spatial} floats at an element offset,
 * channels-last ({@code (n*spatial + p)*channels + c}) or channels-first ({@code (n*channels + c)*spatial + p}).
 * Each sample's channels form {@code groups} groups of {@code cpg = channels / groups} consecutive
 * channels, normalized over {@code cpg * spatial} elements. Per-channel arrays ({@code gamma},
 * {@code beta}, {@code dGamma}, {@code dBeta}) have {@code channels} elements; statistics are read and
 * written at {@code stats[statsOffset + n*groups + g]} (the facade stages segments in blocks of samples).
 * The facade has validated everything; {@code gamma == null} means scale 1, {@code beta == null} shift 0,
 * a null statistics or gradient array is not written. An output may be the same array and offset as an
 * input: each sample is read completely before any element of it is written.
 */
public interface GroupNormSupport {

  /** "scalar" or "panama". */
  String name();

  /**
   * Per sample and group: {@code mean}, biased {@code var} (two-pass or shifted, never
   * {@code E[x²] - E[x]²}), {@code invStd = 1/sqrt(var + epsilon)},
   * {@code y = (x - mean) * invStd * gamma[c] + beta[c]}.
   */
  void forward(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
               boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset);

  /**
   * Per sample and group, with {@code xhat = (x - mean) * invStd}, {@code g = dy * gamma[c]} and
   * {@code n = cpg * spatial}: {@code dx = invStd * (g - Σg/n - xhat * Σ(g*xhat)/n)}; <em>adds</em>
   * {@code dy * xhat} into {@code dGamma[c]} and {@code dy} into {@code dBeta[c]} (the caller zeroes them once per call).
   */
  void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch, int channels, int spatial,
                int groups, boolean channelsLast, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                float[] dBeta);
  // ---------------------------------------------------------------- plain native segments

  /**
   * {@link #forward} straight on a plain native segment ({@code isNative()}, not mapped), byte offsets,
   * with the same bits as on a {@code float[]}; false, having written nothing, where the caller stages.
   */
  default boolean forwardNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment y, long yOffset,
                                int batch, int channels, int spatial, int groups, boolean channelsLast, float[] gamma, float[] beta,
                                float epsilon, float[] mean, float[] invStd, int statsOffset) {
    return false;
  }

  /** {@link #backward} on plain native segments, as {@link #forwardNative}; false (nothing written) where the caller stages. */
  default boolean backwardNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy, long dyOffset,
                                 java.lang.foreign.MemorySegment dx, long dxOffset, int batch, int channels, int spatial, int groups,
                                 boolean channelsLast, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                                 float[] dBeta) {
    return false;
  }

  // ---------------------------------------------------------------- a channels-last sample split into row ranges
  // (ParallelNorms): per range a pass that reduces, then GroupNormRows merges the ranges in double, in range
  // order, then per range a pass that writes. Rows are {@code channels} floats at the array offset.

  /**
   * Per-channel moments of {@code rows} channels-last rows, overwritten: {@code mean[c]} in float,
   * {@code meanResidual[c]} its rounding error (the exact mean minus {@code mean[c]}, to float) and the
   * biased {@code variance[c]} about the exact mean.
   */
  void rowMoments(float[] x, int xOffset, int rows, int channels, float[] mean, float[] meanResidual, float[] variance);

  /** {@code y = (x - chMean[c]) * chInvStd[c] * gamma[c] + beta[c]} over {@code rows} channels-last rows. */
  void rowNormalize(float[] x, int xOffset, float[] y, int yOffset, int rows, int channels, float[] chMean, float[] chInvStd,
                    float[] gamma, float[] beta);

  /**
   * Over {@code rows} channels-last rows, per channel, overwritten: {@code sumDy[c] = Σ dy} and
   * {@code sumDyXhat[c] = Σ dy * (x - chMean[c]) * chInvStd[c]}.
   */
  void rowGradientSums(float[] x, int xOffset, float[] dy, int dyOffset, int rows, int channels, float[] chMean, float[] chInvStd,
                       float[] sumDy, float[] sumDyXhat);

  /**
   * {@code dx = a[c]*dy + b[c]*(x - mean[c]) + k[c]} over {@code rows} channels-last rows, with
   * {@code coef = [a | b | k | mean]}, {@code channels} floats each (read only: ranges of one sample share it).
   */
  void rowApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int channels, float[] coef);

  /**
   * The four row-range passes on plain native segments, byte offsets, with the array methods' bits; each
   * returns false, having written nothing, where the caller stages the range.
   */
  default boolean rowMomentsNative(java.lang.foreign.MemorySegment x, long xOffset, int rows, int channels, float[] mean,
                                   float[] meanResidual, float[] variance) {
    return false;
  }

  /** {@link #rowNormalize} on plain native segments, as {@link #rowMomentsNative}. */
  default boolean rowNormalizeNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment y, long yOffset,
                                     int rows, int channels, float[] chMean, float[] chInvStd, float[] gamma, float[] beta) {
    return false;
  }

  /** {@link #rowGradientSums} on plain native segments, as {@link #rowMomentsNative}. */
  default boolean rowGradientSumsNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy,
                                        long dyOffset, int rows, int channels, float[] chMean, float[] chInvStd, float[] sumDy,
                                        float[] sumDyXhat) {
    return false;
  }

  /** {@link #rowApply} on plain native segments, as {@link #rowMomentsNative}. */
  default boolean rowApplyNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy, long dyOffset,
                                 java.lang.foreign.MemorySegment dx, long dxOffset, int rows, int channels, float[] coef) {
    return false;
  }
}
