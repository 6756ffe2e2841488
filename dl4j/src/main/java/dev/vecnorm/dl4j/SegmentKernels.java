package dev.vecnorm.dl4j;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.NormShape;
import java.lang.foreign.MemorySegment;

/**
 * The three segment kernels the helper calls, in one place so that the serial kernels can be swapped for
 * {@code ParallelBatchNorm}'s segment overloads (same signatures, instance methods) without touching the
 * helper. Offsets are in bytes.
 */
interface SegmentKernels {

  void forwardTraining(NormShape s, MemorySegment x, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                       float[] batchMean, float[] batchVariance, float[] invStd);

  void forwardInference(NormShape s, MemorySegment x, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, MemorySegment y);

  void backward(NormShape s, MemorySegment x, MemorySegment dy, float[] gamma, float[] batchMean, float[] invStd,
                MemorySegment dx, float[] dGamma, float[] dBeta);

  /** vecnorm's single-threaded kernels. */
  SegmentKernels SERIAL = new SegmentKernels() {
    @Override
    public void forwardTraining(NormShape s, MemorySegment x, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                                float[] batchMean, float[] batchVariance, float[] invStd) {
      BatchNorm.forwardTraining(s, x, 0, gamma, beta, epsilon, y, 0, batchMean, batchVariance, invStd);
    }

    @Override
    public void forwardInference(NormShape s, MemorySegment x, float[] gamma, float[] beta, float[] movingMean,
                                 float[] movingVariance, float epsilon, MemorySegment y) {
      BatchNorm.forwardInference(s, x, 0, gamma, beta, movingMean, movingVariance, epsilon, y, 0);
    }

    @Override
    public void backward(NormShape s, MemorySegment x, MemorySegment dy, float[] gamma, float[] batchMean, float[] invStd,
                         MemorySegment dx, float[] dGamma, float[] dBeta) {
      BatchNorm.backward(s, x, 0, dy, 0, gamma, batchMean, invStd, dx, 0, dGamma, dBeta);
    }
  };

  /**
   * The kernels for a DL4J that runs {@code threads} native threads ({@code Nd4j.getEnvironment().maxThreads()}).
   * Serial for now: on main, {@code ParallelBatchNorm} takes {@code float[]} only, and ND4J data is off-heap.
   * When its segment overloads land, return an adapter over one shared {@code ParallelBatchNorm(threads)}
   * for {@code threads > 1}.
   */
  static SegmentKernels forThreads(int threads) {
    return SERIAL;
  }
}
