package dev.vecnorm.internal;

/**
 * The kernels behind {@code dev.vecnorm.BatchNorm}, one scalar and one Vector API implementation.
 *
 * <p>Tensors are {@code float[]} at an element offset, viewed as {@code [outer, channels, inner]}
 * row-major; per-channel arrays have exactly {@code channels} elements. The public facade has
 * validated every argument; implementations only assert. {@code gamma == null} means scale 1,
 * {@code beta == null} means shift 0. An output may be the same array and offset as an input: kernels
 * read each element before writing it.
 *
 * <p>Plain native segments have their own entry points ({@code momentsNative}, {@code normalizeNative},
 * {@code backwardNative}, {@code backwardReduceNative}, {@code backwardApplyNative}): a second body of
 * each array kernel, with the same arithmetic, that only native segments ever reach, so C2's type profile
 * of its segment accesses stays monomorphic (one loop over both heap and native segments ran 1.6x slower
 * on native memory; see the README). They return false when an implementation has no such body (the
 * scalar one) or a shape is not covered, and the facade then stages the segment through arrays
 * ({@code dev.vecnorm.Staging}), as it does for every other kind of segment.
 */
public interface BatchNormSupport {
  /**
   * Channels-first planes at least this long (640 B, 10 cache lines) go channel by channel in the fused
   * backward, in the Panama kernels and in {@code ParallelBatchNorm} alike. A channel's planes then stay in
   * L1/L2 between its reduce and its apply, where memory order reads x and dy twice from L3 or memory
   * (NCHW N=8, C=224, 672-float planes: docs/performance-history.md has the measured gain). 49-float
   * planes stay in memory order: walking a channel's 3-line planes, a slab apart, took 2.9x longer
   * (NCHW 32x2048x49).
   */
  int FUSED_MIN_INNER = 160;

  /** Short name for logs and benchmark labels: "scalar" or "panama". */
  String name();

  /**
   * Per-channel mean and biased variance ({@code M2 / n}) over {@code n = outer * inner} elements,
   * computed by cache blocks, each two-pass, merged with Chan's formula. The variance, not M2, crosses
   * this interface: M2 = n * var overflows float long before var does (N(0, 1e18) over 1000 rows), and
   * callers that merge chunks multiply back by n in double.
   *
   * <p>Overflow and non-finite data. Wherever the true mean and variance are finite floats the results
   * are accurate, even when float sums or {@code n * var} would overflow (those channels are recomputed
   * in double). Otherwise, per channel, the same for both implementations and every layout:
   * <ul>
   *   <li>data with NaN or an infinity: mean is the double {@code sum(x) / n} as a float (+Inf or -Inf
   *       when only infinities of one sign are present, NaN for any NaN or both signs), variance NaN;</li>
   *   <li>finite data whose variance exceeds {@code Float.MAX_VALUE}: the finite mean, variance +Inf.</li>
   * </ul>
   * {@code Staging.mergeChunk} merges chunk results by the same rule, so chunked calls agree with one call.
   */
  default void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] variance) {
    moments(x, xOffset, outer, channels, inner, mean, null, variance);
  }

  /**
   * {@link #moments(float[], int, int, int, int, float[], float[])}, and, when {@code meanResidual} is
   * not null, the float mean's rounding error: {@code mean[c] + (double) meanResidual[c]} is the
   * kernel's mean to about 2^-48 relative. Callers that merge several calls' moments need it: a mean
   * rounded to float is off by up to half an ulp of |mean| (5e-4 at 1e4, 5% of a 0.01 std), and Chan's
   * between-chunk term {@code delta^2 * n1 * n2 / n} turns that into ~0.1% of the variance.
   */
  void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
               float[] variance);

  /**
   * {@code y = (x - mean) * gamma * invStd + beta}. When {@code fromVariance} is true the array
   * {@code scale} holds variances and {@code invStd = 1 / sqrt(variance + epsilon)} is derived per
   * channel; otherwise {@code scale} already holds invStd and epsilon is unused.
   */
  void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                 float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta);

  /**
   * {@link #normalize} of {@code rows} channels-last rows ({@code inner == 1}) with the per-channel
   * coefficients already folded: {@code coef} holds {@code [alpha | shift | mean]}, {@code channels} floats
   * each from index 0, with {@code alpha = gamma * invStd} (invStd itself when gamma is null) and
   * {@code shift = beta} (0 when null), as {@link #normalize} folds them from {@code scale = invStd},
   * {@code fromVariance = false}: {@code y = fma(x - mean, alpha, shift)}, the same bits as that call.
   * For callers that normalize several chunks with one call's arguments ({@code ParallelBatchNorm}):
   * the fold runs once per call, not once per chunk. The default is the scalar row loop.
   */
  default void normalizeFolded(float[] x, int xOffset, float[] y, int yOffset, int rows, int channels, float[] coef) {
    for (int r = 0; r < rows; r++) {
      int xs = xOffset + r * channels, ys = yOffset + r * channels;
      for (int c = 0; c < channels; c++) y[ys + c] = Math.fma(x[xs + c] - coef[2 * channels + c], coef[c], coef[channels + c]);
    }
  }

  /** {@code sumDy[c] = sum dy}, {@code sumDyXhat[c] = sum dy * (x - mean) * invStd}, over the channel. */
  void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                      float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat);

  /**
   * {@link #backwardReduce} of a chunk ({@code outer} rows) of a tensor of {@code tensorFloats} floats, as
   * {@code ParallelBatchNorm} calls it: an implementation may pick its walk by the whole tensor's size (a chunk of a
   * tensor that streams from memory is read as the tensor would be). The same results as {@link #backwardReduce}.
   */
  default void backwardReduceChunk(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                                   float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    backwardReduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
  }

  /**
   * {@code dx = gamma * invStd * (dy - sumDy/count - xhat * sumDyXhat/count)} with
   * {@code xhat = (x - mean) * invStd}; {@code count} is the (possibly global) element count per channel.
   */
  void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                     int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                     float[] sumDy, float[] sumDyXhat, double count);

  /**
   * {@link #normalize} straight on native memory ({@code MemorySegment.isNative()}, not mapped), byte
   * offsets, when the implementation has such a kernel; returns false (having written nothing) when it
   * has not, and the caller stages the tensor through arrays.
   */
  default boolean normalizeNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment y,
                                  long yOffset, int outer, int channels, int inner, float[] mean, float[] scale,
                                  boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    return false;
  }

  /**
   * {@link #moments(float[], int, int, int, int, float[], float[], float[])} straight on native memory
   * ({@code isNative()}, not mapped), byte offsets, with the same bits as the array kernel on the same
   * data, when the implementation has such a kernel; returns false (having written nothing) when it has
   * not, and the caller stages the tensor through arrays.
   */
  default boolean momentsNative(java.lang.foreign.MemorySegment x, long xOffset, int outer, int channels, int inner,
                                float[] mean, float[] meanResidual, float[] variance) {
    return false;
  }

  /**
   * The whole backward of one call: {@link #backwardReduce} then {@link #backwardApply} with the sums
   * written to {@code sumDy} and {@code sumDyXhat}. Implementations may interleave the two per channel
   * (same results) to read each channel's data from cache the second time.
   */
  default void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer, int channels,
                        int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    backwardReduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
    backwardApply(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
  }

  /**
   * Channel {@code c}'s whole backward as {@code ParallelBatchNorm} splits it over threads (planes of
   * {@link #FUSED_MIN_INNER}+ floats, one slab per chunk): each plane (o, c)'s float sums, as {@link #backwardReduce}
   * gives them for that plane alone, added in o order in double and rounded once into {@code sumDy[c]} and
   * {@code sumDyXhat[c]}; then channel c's planes of dx, as {@link #backwardApply} with those sums. Only channel
   * c's entries of the per-channel arrays are read or written. Returns false (nothing written) when the
   * implementation has no such kernel, and the caller runs it plane by plane.
   */
  default boolean backwardChannel(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                  int channels, int inner, int c, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                                  float[] sumDyXhat, double count) {
    return false;
  }

  /**
   * Whether {@link #backwardReduceChannels} and {@link #backwardApplyChannels} walk this channels-first shape in memory
   * order faster than channel by channel ({@code ParallelBatchNorm} then gives each thread a range of channels); false
   * when the implementation has no such kernels.
   */
  default boolean backwardInMemoryOrder(int outer, int channels, int inner) {
    return false;
  }

  /**
   * Channels {@code [cFrom, cTo)} of a channels-first reduce, sample by sample in memory order: the planes of each group
   * of {@code group} consecutive samples summed in float as {@link #backwardReduce} sums a chunk of that many samples
   * (the last group may be shorter), sumDyXhat scaled by invStd in float, the groups added in sample order in double
   * ({@code accDy}, {@code accDyXhat}) and rounded once into {@code sumDy[c]} and {@code sumDyXhat[c]}: the bits of
   * ParallelBatchNorm's chunked reduce and merge. Only channels {@code [cFrom, cTo)} of the arrays are touched. Called
   * only where {@link #backwardInMemoryOrder} holds.
   */
  default void backwardReduceChannels(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                                      int cFrom, int cTo, int group, float[] mean, float[] invStd, float[] sumDy,
                                      float[] sumDyXhat, double[] accDy, double[] accDyXhat) {
    throw new UnsupportedOperationException();
  }

  /** Channels {@code [cFrom, cTo)} of {@link #backwardApply} (channels-first), sample by sample in memory order: the same bits. */
  default void backwardApplyChannels(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                     int channels, int inner, int cFrom, int cTo, float[] mean, float[] invStd, float[] gamma,
                                     float[] sumDy, float[] sumDyXhat, double count) {
    throw new UnsupportedOperationException();
  }

  /**
   * {@link #backward} straight on native memory ({@code MemorySegment.isNative()}, not mapped), byte
   * offsets, with the same bits as on arrays; returns false (having written nothing) when the
   * implementation has no such kernel for this shape, and the caller stages the tensors through arrays.
   */
  default boolean backwardNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy,
                                 long dyOffset, java.lang.foreign.MemorySegment dx, long dxOffset, int outer, int channels,
                                 int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat,
                                 double count) {
    return false;
  }

  /** {@link #backwardReduce} on native memory, as {@link #backwardNative}; false (nothing written) when staged. */
  default boolean backwardReduceNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy,
                                       long dyOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                                       float[] sumDy, float[] sumDyXhat) {
    return false;
  }

  /**
   * {@link #backwardReduceNative} of a part of a tensor of {@code tensorFloats} floats (a group norm sample), as
   * {@link #backwardReduceChunk}: the walk may follow the whole tensor's size; the same results.
   */
  default boolean backwardReduceNativeChunk(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy,
                                            long dyOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                                            float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    return backwardReduceNative(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
  }

  /** {@link #backwardApply} on native memory, as {@link #backwardNative}; false (nothing written) when staged. */
  default boolean backwardApplyNative(java.lang.foreign.MemorySegment x, long xOffset, java.lang.foreign.MemorySegment dy,
                                      long dyOffset, java.lang.foreign.MemorySegment dx, long dxOffset, int outer, int channels,
                                      int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat,
                                      double count) {
    return false;
  }
}
