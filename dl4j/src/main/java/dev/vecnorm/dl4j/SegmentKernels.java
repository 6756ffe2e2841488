package dev.vecnorm.dl4j;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The segment kernels the helper calls, in one place: vecnorm's single-threaded {@link BatchNorm}, or
 * {@link ParallelBatchNorm}'s segment overloads on a pool shared by every helper of the JVM. All tensors
 * start at byte offset 0 of their segment (the bridge makes one segment per array).
 */
interface SegmentKernels {

  void forwardTraining(NormShape s, MemorySegment x, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                       float[] batchMean, float[] batchVariance, float[] invStd);

  void forwardInference(NormShape s, MemorySegment x, float[] gamma, float[] beta, float[] movingMean,
                        float[] movingVariance, float epsilon, MemorySegment y);

  void backward(NormShape s, MemorySegment x, MemorySegment dy, float[] gamma, float[] batchMean, float[] invStd,
                MemorySegment dx, float[] dGamma, float[] dBeta);

  void moments(NormShape s, MemorySegment x, Moments out);

  /** How many threads a call may use. */
  int threads();

  /**
   * Tensors of more floats than this go to {@link ParallelBatchNorm}; smaller ones run on the caller with
   * {@link BatchNorm}. It is {@code ParallelBatchNorm}'s smallest chunk (512 KiB): a tensor of at most one
   * chunk would run on the calling thread there anyway, only with the chunk bookkeeping on top.
   */
  long PARALLEL_MIN_FLOATS = 1 << 17;

  /**
   * The kernels for a DL4J whose ND4J runs {@code threads} native threads
   * ({@code Nd4j.getEnvironment().maxThreads()}, which follows {@code OMP_NUM_THREADS}): serial for 1, else
   * a shared {@code ParallelBatchNorm} of {@code min(threads, availableProcessors(), 32)} threads for tensors
   * above {@link #PARALLEL_MIN_FLOATS}. More threads than processors would only make the threads wait for
   * each other.
   */
  static SegmentKernels forThreads(int threads) {
    int t = Math.min(Math.min(threads, Runtime.getRuntime().availableProcessors()), 32);
    return t > 1 ? new Parallel(Parallel.shared(t)) : SERIAL;
  }

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

    @Override
    public void moments(NormShape s, MemorySegment x, Moments out) {
      BatchNorm.moments(s, x, 0, out);
    }

    @Override
    public int threads() {
      return 1;
    }
  };

  /**
   * {@code ParallelBatchNorm}'s segment overloads for tensors above {@link #PARALLEL_MIN_FLOATS}, {@link #SERIAL}
   * below. {@code ParallelBatchNorm} gives the same bits for any thread count (its partition depends on the
   * shape only), so a tensor's results do not depend on how many threads ND4J runs, as long as it runs more
   * than one; against the serial kernels they differ by float rounding (another summation order).
   */
  final class Parallel implements SegmentKernels {
    /**
     * One pool per thread count for the whole JVM, never closed: its workers are daemon threads that park
     * when idle (after about 100 µs of spinning, and never spin with more threads than processors), so
     * they neither keep the JVM alive nor cost CPU between training steps. A pool per helper would start
     * new threads for every layer and every re-install.
     */
    private static final ConcurrentHashMap<Integer, ParallelBatchNorm> SHARED = new ConcurrentHashMap<>();

    private final ParallelBatchNorm pool;

    Parallel(ParallelBatchNorm pool) {
      this.pool = pool;
    }

    static ParallelBatchNorm shared(int threads) {
      return SHARED.computeIfAbsent(threads, ParallelBatchNorm::new);
    }

    private static boolean small(NormShape s) {
      return s.size() <= PARALLEL_MIN_FLOATS;
    }

    @Override
    public void forwardTraining(NormShape s, MemorySegment x, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                                float[] batchMean, float[] batchVariance, float[] invStd) {
      if (small(s)) {
        SERIAL.forwardTraining(s, x, gamma, beta, epsilon, y, batchMean, batchVariance, invStd);
      } else {
        pool.forwardTraining(s, x, 0, gamma, beta, epsilon, y, 0, batchMean, batchVariance, invStd);
      }
    }

    @Override
    public void forwardInference(NormShape s, MemorySegment x, float[] gamma, float[] beta, float[] movingMean,
                                 float[] movingVariance, float epsilon, MemorySegment y) {
      if (small(s)) {
        SERIAL.forwardInference(s, x, gamma, beta, movingMean, movingVariance, epsilon, y);
      } else {
        pool.forwardInference(s, x, 0, gamma, beta, movingMean, movingVariance, epsilon, y, 0);
      }
    }

    @Override
    public void backward(NormShape s, MemorySegment x, MemorySegment dy, float[] gamma, float[] batchMean, float[] invStd,
                         MemorySegment dx, float[] dGamma, float[] dBeta) {
      if (small(s)) {
        SERIAL.backward(s, x, dy, gamma, batchMean, invStd, dx, dGamma, dBeta);
      } else {
        pool.backward(s, x, 0, dy, 0, gamma, batchMean, invStd, dx, 0, dGamma, dBeta);
      }
    }

    @Override
    public void moments(NormShape s, MemorySegment x, Moments out) {
      if (small(s)) {
        SERIAL.moments(s, x, out);
      } else {
        pool.moments(s, x, 0, out);
      }
    }

    @Override
    public int threads() {
      return pool.threads();
    }
  }
}
