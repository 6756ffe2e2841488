package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;

/**
 * Validation and orchestration of the batch-norm operations over one implementation. {@link BatchNorm}
 * delegates to {@link #DEFAULT}; tests build one per implementation to run the same cases through both.
 * A record, so that C2 trusts {@code impl} as a constant once the instance is.
 */
record Kernels(BatchNormSupport impl) {

  static final Kernels DEFAULT = new Kernels(VectorizationProvider.get());

  private static MemorySegment wrap(float[] a) {
    return a == null ? null : MemorySegment.ofArray(a);
  }

  // ---------------------------------------------------------------- training forward

  void forwardTraining(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                       float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    forwardTraining(s, wrap(x), xOffset * 4L, gamma, beta, epsilon, wrap(y), yOffset * 4L, batchMean, batchVariance, invStd);
  }

  void forwardTraining(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                       MemorySegment y, long yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("y", y, yOffset, s, true);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkAffine(s, gamma, beta);
    Checks.epsilon(epsilon);
    Checks.perChannel("batchMean", batchMean, s.channels(), false);
    Checks.perChannel("batchVariance", batchVariance, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
    Checks.distinct("batchMean", batchMean, "batchVariance", batchVariance);
    Checks.distinct("batchMean", batchMean, "invStd", invStd);
    Checks.distinct("batchVariance", batchVariance, "invStd", invStd);

    impl.moments(x, xOffset, s.outer(), s.channels(), s.inner(), batchMean, batchVariance);
    double count = s.countPerChannel();
    for (int c = 0; c < s.channels(); c++) {
      double variance = batchVariance[c] / count;
      batchVariance[c] = (float) variance;
      invStd[c] = (float) (1.0 / Math.sqrt(variance + epsilon));
    }
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd, false, epsilon, gamma, beta);
  }

  // ---------------------------------------------------------------- inference forward

  void forwardInference(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    forwardInference(s, wrap(x), xOffset * 4L, gamma, beta, movingMean, movingVariance, epsilon, wrap(y), yOffset * 4L);
  }

  void forwardInference(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, MemorySegment y, long yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("y", y, yOffset, s, true);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkAffine(s, gamma, beta);
    Checks.perChannel("movingMean", movingMean, s.channels(), false);
    Checks.perChannel("movingVariance", movingVariance, s.channels(), false);
    Checks.epsilon(epsilon);
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), movingMean, movingVariance, true, epsilon, gamma, beta);
  }

  // ---------------------------------------------------------------- normalize with given statistics

  void normalize(NormShape s, float[] x, int xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                 float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    normalize(s, wrap(x), xOffset * 4L, mean, invStd, gamma, beta, wrap(y), yOffset * 4L);
  }

  void normalize(NormShape s, MemorySegment x, long xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                 MemorySegment y, long yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("y", y, yOffset, s, true);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
    checkAffine(s, gamma, beta);
    Checks.perChannel("mean", mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
    impl.normalize(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), mean, invStd, false, 1f, gamma, beta);
  }

  // ---------------------------------------------------------------- backward

  void backward(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] batchMean,
                float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    Checks.tensor("dx", dx, dxOffset, s);
    backward(s, wrap(x), xOffset * 4L, wrap(dy), dyOffset * 4L, gamma, batchMean, invStd, wrap(dx), dxOffset * 4L, dGamma, dBeta);
  }

  void backward(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                float[] batchMean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    checkBackwardTensors(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkStatistics(s, gamma, "batchMean", batchMean, invStd);
    Checks.perChannel("dGamma", dGamma, s.channels(), true);
    Checks.perChannel("dBeta", dBeta, s.channels(), true);
    Checks.distinct("dGamma", dGamma, "dBeta", dBeta);
    // Without caller arrays for the parameter gradients the sums still need a home; pass dGamma and
    // dBeta (the layer API always does) to keep this call allocation-free.
    float[] sumDy = dBeta != null ? dBeta : new float[s.channels()];
    float[] sumDyXhat = dGamma != null ? dGamma : new float[s.channels()];
    impl.backwardReduce(x, xOffset, dy, dyOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd, sumDy, sumDyXhat);
    impl.backwardApply(x, xOffset, dy, dyOffset, dx, dxOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd,
        gamma, sumDy, sumDyXhat, s.countPerChannel());
  }

  void backwardReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean, float[] invStd,
                      float[] sumDy, float[] sumDyXhat) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    backwardReduce(s, wrap(x), xOffset * 4L, wrap(dy), dyOffset * 4L, mean, invStd, sumDy, sumDyXhat);
  }

  void backwardReduce(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] mean,
                      float[] invStd, float[] sumDy, float[] sumDyXhat) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("dy", dy, dyOffset, s, false);
    checkStatistics(s, null, "mean", mean, invStd);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.distinct("sumDy", sumDy, "sumDyXhat", sumDyXhat);
    impl.backwardReduce(x, xOffset, dy, dyOffset, s.outer(), s.channels(), s.inner(), mean, invStd, sumDy, sumDyXhat);
  }

  void backwardApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                     float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount, float[] dx, int dxOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    Checks.tensor("dx", dx, dxOffset, s);
    backwardApply(s, wrap(x), xOffset * 4L, wrap(dy), dyOffset * 4L, gamma, mean, invStd, sumDy, sumDyXhat, globalCount,
        wrap(dx), dxOffset * 4L);
  }

  void backwardApply(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                     float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount,
                     MemorySegment dx, long dxOffset) {
    checkBackwardTensors(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    checkStatistics(s, gamma, "mean", mean, invStd);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.count("globalCount", globalCount, s.countPerChannel());
    impl.backwardApply(x, xOffset, dy, dyOffset, dx, dxOffset, s.outer(), s.channels(), s.inner(), mean, invStd, gamma,
        sumDy, sumDyXhat, globalCount);
  }

  // ---------------------------------------------------------------- moments

  void moments(NormShape s, float[] x, int xOffset, Moments out) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    moments(s, wrap(x), xOffset * 4L, out);
  }

  void moments(NormShape s, MemorySegment x, long xOffset, Moments out) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    java.util.Objects.requireNonNull(out, "out");
    if (out.channels() != s.channels()) {
      throw new IllegalArgumentException("out must have channels = " + s.channels() + ", got " + out.channels());
    }
    impl.moments(x, xOffset, s.outer(), s.channels(), s.inner(), out.scratchMean, out.scratchM2);
    out.setFromScratch(s.countPerChannel());
  }

  // ---------------------------------------------------------------- checks shared by several operations

  private static void checkAffine(NormShape s, float[] gamma, float[] beta) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel("beta", beta, s.channels(), true);
  }

  private static void checkStatistics(NormShape s, float[] gamma, String meanName, float[] mean, float[] invStd) {
    Checks.perChannel("gamma", gamma, s.channels(), true);
    Checks.perChannel(meanName, mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
  }

  private static void checkBackwardTensors(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                                           MemorySegment dx, long dxOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("dy", dy, dyOffset, s, false);
    Checks.tensor("dx", dx, dxOffset, s, true);
    Checks.noPartialOverlap("dx", dx, dxOffset, "dy", dy, dyOffset, s);
    Checks.noPartialOverlap("dx", dx, dxOffset, "x", x, xOffset, s);
  }
}
