package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.ScalarBatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Validation and orchestration of the batch-norm operations over one implementation. {@link BatchNorm}
 * delegates to {@link #DEFAULT}; tests build one per implementation to run the same cases through both.
 * A record, so that C2 trusts {@code impl} as a constant once the instance is.
 *
 * <p>Each operation has a {@code float[]} and a {@code MemorySegment} entry; both validate everything,
 * then run the array kernels: directly on the array behind a heap segment, or through
 * {@link Staging} for other segments.
 */
record Kernels(BatchNormSupport impl) {

  static final Kernels DEFAULT = new Kernels(VectorizationProvider.get());

  // ---------------------------------------------------------------- training forward

  void forwardTraining(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                       float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    impl.moments(x, xOffset, s.outer(), s.channels(), s.inner(), batchMean, batchVariance);
    finishStatistics(s, epsilon, batchVariance, invStd);
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd, false, epsilon, gamma, beta);
  }

  void forwardTraining(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                       MemorySegment y, long yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    checkSegments(s, x, xOffset, y, yOffset);
    checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      forwardTraining(s, xa, Staging.elementOffset(x, xOffset), gamma, beta, epsilon, ya, Staging.elementOffset(y, yOffset),
          batchMean, batchVariance, invStd);
      return;
    }
    Staging.forwardTraining(impl, s, x, xOffset, gamma, beta, epsilon, y, yOffset, batchMean, batchVariance, invStd);
  }

  static void checkTraining(NormShape s, float[] gamma, float[] beta, float epsilon, float[] batchMean,
                                    float[] batchVariance, float[] invStd) {
    checkAffine(s, gamma, beta);
    Checks.epsilon(epsilon);
    Checks.perChannel("batchMean", batchMean, s.channels(), false);
    Checks.perChannel("batchVariance", batchVariance, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
    Checks.distinctOutputs("batchMean", batchMean, "batchVariance", batchVariance, "invStd", invStd);
    // The statistics are written before gamma and beta are read (normalization comes last).
    Checks.notAnInput("batchMean", batchMean, "gamma", gamma, "beta", beta, null, null);
    Checks.notAnInput("batchVariance", batchVariance, "gamma", gamma, "beta", beta, null, null);
    Checks.notAnInput("invStd", invStd, "gamma", gamma, "beta", beta, null, null);
  }

  /**
   * invStd = 1/sqrt(var + eps) in double from the biased variance the kernels wrote. A variance of +Inf
   * (finite data spread beyond Float.MAX_VALUE) gives invStd NaN, not 0: with 0 every y of the channel
   * would silently equal beta, while NaN makes the overflow visible in y. A NaN variance stays NaN.
   */
  static void finishStatistics(NormShape s, float epsilon, float[] batchVariance, float[] invStd) {
    finishStatistics(epsilon, batchVariance, invStd, 0, s.channels());
  }

  /**
   * {@link #finishStatistics} of channels [from, to) (ParallelBatchNorm's merge ranges call it too):
   * statisticsInvStd's expressions with its branch split out, one output per loop, so C2 vectorizes the
   * double square root and division (as Coefficients.forward): the branching loop took 4.3-4.5 µs a call at
   * 1024 channels (engineer nc11), ~4% of an in-cache NC 256x1024 training forward. Same expressions, so
   * the same bits. The +Inf rule is a second pass that compares and rarely stores, not "+ (v - v)": x86's
   * Inf - Inf is the NaN 0xffc00000, not Float.NaN's 0x7fc00000, and raw bits would differ between paths.
   */
  static void finishStatistics(float epsilon, float[] batchVariance, float[] invStd, int from, int to) {
    ScalarBatchNormSupport.invStd(batchVariance, epsilon, invStd, from, to);
    for (int c = from; c < to; c++) {
      if (batchVariance[c] == Float.POSITIVE_INFINITY) invStd[c] = Float.NaN;
    }
  }

  /** One channel of {@link #finishStatistics}: an infinite variance gives NaN, not 0. */
  static float statisticsInvStd(float variance, float epsilon) {
    return variance == Float.POSITIVE_INFINITY ? Float.NaN : ScalarBatchNormSupport.invStd(variance, epsilon);
  }

  // ---------------------------------------------------------------- inference forward and normalize

  void forwardInference(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), movingMean, movingVariance, true, epsilon, gamma, beta);
  }

  void forwardInference(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, MemorySegment y, long yOffset) {
    checkSegments(s, x, xOffset, y, yOffset);
    checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    normalizeSegments(s, x, xOffset, y, yOffset, movingMean, movingVariance, true, epsilon, gamma, beta);
  }

  static void checkInference(NormShape s, float[] gamma, float[] beta, float[] movingMean, float[] movingVariance,
                                     float epsilon) {
    checkAffine(s, gamma, beta);
    Checks.perChannel("movingMean", movingMean, s.channels(), false);
    Checks.perChannel("movingVariance", movingVariance, s.channels(), false);
    Checks.epsilon(epsilon);
  }

  void normalize(NormShape s, float[] x, int xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                 float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkGiven(s, mean, invStd, gamma, beta);
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), mean, invStd, false, 1f, gamma, beta);
  }

  void normalize(NormShape s, MemorySegment x, long xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                 MemorySegment y, long yOffset) {
    checkSegments(s, x, xOffset, y, yOffset);
    checkGiven(s, mean, invStd, gamma, beta);
    normalizeSegments(s, x, xOffset, y, yOffset, mean, invStd, false, 1f, gamma, beta);
  }

  static void checkGiven(NormShape s, float[] mean, float[] invStd, float[] gamma, float[] beta) {
    checkAffine(s, gamma, beta);
    Checks.perChannel("mean", mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
  }

  void normalizeSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset, float[] mean,
                                 float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      impl.normalize(xa, Staging.elementOffset(x, xOffset), ya, Staging.elementOffset(y, yOffset), s.outer(), s.channels(),
          s.inner(), mean, scale, fromVariance, epsilon, gamma, beta);
    } else if (Staging.plainNative(x) && Staging.plainNative(y) && impl.normalizeNative(x, xOffset, y, yOffset, s.outer(),
        s.channels(), s.inner(), mean, scale, fromVariance, epsilon, gamma, beta)) {
      return; // straight on native memory (only plain native segments: see PanamaBatchNormSupport.normalizeNative)
    } else {
      Staging.normalize(impl, s, x, xOffset, y, yOffset, mean, scale, fromVariance, epsilon, gamma, beta);
    }
  }

  // ---------------------------------------------------------------- backward

  void backward(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] batchMean,
                float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    float[] sumDy = orTemporary(dBeta, s), sumDyXhat = orTemporary(dGamma, s);
    impl.backward(x, xOffset, dy, dyOffset, dx, dxOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd,
        gamma, sumDy, sumDyXhat, s.countPerChannel());
  }

  void backward(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                float[] batchMean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      backward(s, xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), gamma, batchMean, invStd,
          da, Staging.elementOffset(dx, dxOffset), dGamma, dBeta);
      return;
    }
    // One staged pass over x and dy when tiles hold whole channels (see Staging), else reduce then apply.
    Staging.backward(impl, s, x, xOffset, dy, dyOffset, batchMean, invStd, gamma, orTemporary(dBeta, s), orTemporary(dGamma, s),
        true, dx, dxOffset);
  }

  static void checkBackward(NormShape s, float[] gamma, float[] batchMean, float[] invStd, float[] dGamma,
                                    float[] dBeta) {
    checkStatistics(s, gamma, "batchMean", batchMean, invStd);
    Checks.perChannel("dGamma", dGamma, s.channels(), true);
    Checks.perChannel("dBeta", dBeta, s.channels(), true);
    Checks.distinct("dGamma", dGamma, "dBeta", dBeta);
    // The sums are written between the reduce and the apply pass, which still reads gamma and the statistics.
    Checks.notAnInput("dGamma", dGamma, "gamma", gamma, "batchMean", batchMean, "invStd", invStd);
    Checks.notAnInput("dBeta", dBeta, "gamma", gamma, "batchMean", batchMean, "invStd", invStd);
  }

  /**
   * Without caller arrays for the parameter gradients the sums still need a home; pass dGamma and
   * dBeta (the layer API always does) to keep the call allocation-free.
   */
  static float[] orTemporary(float[] a, NormShape s) {
    return a != null ? a : new float[s.channels()];
  }

  void backwardReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean, float[] invStd,
                      float[] sumDy, float[] sumDyXhat) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    checkReduce(s, mean, invStd, sumDy, sumDyXhat);
    impl.backwardReduce(x, xOffset, dy, dyOffset, s.outer(), s.channels(), s.inner(), mean, invStd, sumDy, sumDyXhat);
  }

  void backwardReduce(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] mean,
                      float[] invStd, float[] sumDy, float[] sumDyXhat) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("dy", dy, dyOffset, s, false);
    checkReduce(s, mean, invStd, sumDy, sumDyXhat);
    reduceSegments(s, x, xOffset, dy, dyOffset, mean, invStd, sumDy, sumDyXhat);
  }

  static void checkReduce(NormShape s, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    checkStatistics(s, null, "mean", mean, invStd);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.distinct("sumDy", sumDy, "sumDyXhat", sumDyXhat);
    Checks.notAnInput("sumDy", sumDy, "mean", mean, "invStd", invStd, null, null);
    Checks.notAnInput("sumDyXhat", sumDyXhat, "mean", mean, "invStd", invStd, null, null);
  }

  void reduceSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] mean,
                              float[] invStd, float[] sumDy, float[] sumDyXhat) {
    reduceSegments(s, x, xOffset, dy, dyOffset, mean, invStd, sumDy, sumDyXhat, s.size());
  }

  /** {@link #reduceSegments} of a {@code ParallelBatchNorm} chunk of a tensor of {@code tensorFloats} floats (the walk follows it). */
  void reduceSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] mean,
                      float[] invStd, float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset);
    if (xa != null && ga != null) {
      impl.backwardReduceChunk(xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), s.outer(),
          s.channels(), s.inner(), mean, invStd, sumDy, sumDyXhat, tensorFloats);
    } else {
      Staging.backward(impl, s, x, xOffset, dy, dyOffset, mean, invStd, null, sumDy, sumDyXhat, false, null, 0, tensorFloats);
    }
  }

  void backwardApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                     float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount, float[] dx, int dxOffset) {
    checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkApply(s, gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
    impl.backwardApply(x, xOffset, dy, dyOffset, dx, dxOffset, s.outer(), s.channels(), s.inner(), mean, invStd, gamma,
        sumDy, sumDyXhat, globalCount);
  }

  void backwardApply(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                     float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount,
                     MemorySegment dx, long dxOffset) {
    checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkApply(s, gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
    applySegments(s, x, xOffset, dy, dyOffset, gamma, mean, invStd, sumDy, sumDyXhat, globalCount, dx, dxOffset);
  }

  static void checkApply(NormShape s, float[] gamma, float[] mean, float[] invStd, float[] sumDy,
                                 float[] sumDyXhat, long globalCount) {
    checkStatistics(s, gamma, "mean", mean, invStd);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.count("globalCount", globalCount, s.countPerChannel());
  }

  void applySegments(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                             float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long count,
                             MemorySegment dx, long dxOffset) {
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      impl.backwardApply(xa, Staging.elementOffset(x, xOffset), ga, Staging.elementOffset(dy, dyOffset), da,
          Staging.elementOffset(dx, dxOffset), s.outer(), s.channels(), s.inner(), mean, invStd, gamma, sumDy, sumDyXhat, count);
    } else {
      Staging.backwardApply(impl, s, x, xOffset, dy, dyOffset, dx, dxOffset, mean, invStd, gamma, sumDy, sumDyXhat, count);
    }
  }

  // ---------------------------------------------------------------- moments

  void moments(NormShape s, float[] x, int xOffset, Moments out) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    checkMoments(s, out);
    impl.moments(x, xOffset, s.outer(), s.channels(), s.inner(), out.scratchMean, out.scratchMeanResidual, out.scratchM2);
    out.setFromScratch(s.countPerChannel());
  }

  void moments(NormShape s, MemorySegment x, long xOffset, Moments out) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    checkMoments(s, out);
    momentsSegments(s, x, xOffset, out.scratchMean, out.scratchMeanResidual, out.scratchM2);
    out.setFromScratch(s.countPerChannel());
  }

  /** Mean and biased variance of a validated segment: on the array behind a heap segment, else staged. */
  void momentsSegments(NormShape s, MemorySegment x, long xOffset, float[] mean, float[] meanResidual, float[] variance) {
    float[] xa = Staging.backingArray(x, xOffset);
    if (xa != null) {
      impl.moments(xa, Staging.elementOffset(x, xOffset), s.outer(), s.channels(), s.inner(), mean, meanResidual, variance);
    } else {
      Staging.moments(impl, s, x, xOffset, mean, meanResidual, variance);
    }
  }

  static void checkMoments(NormShape s, Moments out) {
    Objects.requireNonNull(out, "out");
    if (out.channels() != s.channels()) {
      throw new IllegalArgumentException("out must have channels = " + s.channels() + ", got " + out.channels());
    }
  }

  // ---------------------------------------------------------------- checks shared by several operations

  static void checkAffine(NormShape s, float[] gamma, float[] beta) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel("beta", beta, s.channels(), true);
  }

  private static void checkStatistics(NormShape s, float[] gamma, String meanName, float[] mean, float[] invStd) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel(meanName, mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
  }

  static void checkSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("y", y, yOffset, s, true);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
  }

  static void checkBackwardArrays(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] dx,
                                          int dxOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    Checks.tensor("dx", dx, dxOffset, s);
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, s);
    Checks.noPartialOverlap("dx", dx, dxOffset, "x", x, xOffset, s);
  }

  static void checkBackwardSegments(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                                            MemorySegment dx, long dxOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("dy", dy, dyOffset, s, false);
    Checks.tensor("dx", dx, dxOffset, s, true);
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, s);
    Checks.noPartialOverlap("dx", dx, dxOffset, "x", x, xOffset, s);
  }
}
