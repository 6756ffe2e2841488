package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The {@link BatchNorm} training and inference operations on several threads, with results that are
 * bitwise identical for any thread count: the tensor is cut into a fixed partition of chunks of whole
 * outer slabs (about 1 MiB each, chosen from the shape only), chunk statistics and backward sums are
 * merged in chunk order on the calling thread, and normalization chunks are independent. (They equal
 * {@link BatchNorm}'s single-pass results to float rounding, not to the bit: the merge order differs.)
 *
 * <p>Threads come from a pool this instance owns ({@link #ParallelBatchNorm(int)}; {@link #close()} it)
 * or from the caller's {@link ExecutorService}, as host libraries manage their own. A tensor of one
 * chunk runs on the calling thread. Per call it allocates the chunk tasks and C floats per chunk.
 */
public final class ParallelBatchNorm implements AutoCloseable {
  /** Floats per chunk: big enough that forking pays off, small enough to balance 2-16 threads. */
  static final int CHUNK_FLOATS = 1 << 18;

  private final BatchNormSupport impl;
  private final ExecutorService executor;
  private final boolean ownsExecutor;
  private final int threads;

  /** {@code threads} worker threads owned by this instance (daemon; close() stops them). */
  public ParallelBatchNorm(int threads) {
    this(VectorizationProvider.get(), threads);
  }

  ParallelBatchNorm(BatchNormSupport impl, int threads) {
    if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    this.impl = impl;
    this.threads = threads;
    this.ownsExecutor = true;
    this.executor = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "vecnorm-worker");
      t.setDaemon(true);
      return t;
    });
  }

  /** Runs on the caller's executor (not shut down by {@link #close()}). */
  public ParallelBatchNorm(ExecutorService executor) {
    this.impl = VectorizationProvider.get();
    this.executor = Objects.requireNonNull(executor, "executor");
    this.ownsExecutor = false;
    this.threads = Runtime.getRuntime().availableProcessors();
  }

  /** A pool of {@code availableProcessors()} threads. */
  public static ParallelBatchNorm withAvailableProcessors() {
    return new ParallelBatchNorm(Runtime.getRuntime().availableProcessors());
  }

  public int threads() {
    return threads;
  }

  @Override
  public void close() {
    if (ownsExecutor) executor.shutdownNow();
  }

  private static void checkArrays(NormShape s, float[] x, int xOffset, float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
  }

  private record Chunk(int outerFrom, int outerCount, int offset) {}

  private static List<Chunk> partition(NormShape s) {
    long slab = (long) s.channels() * s.inner();
    int perChunk = (int) Math.max(1, Math.min(s.outer(), CHUNK_FLOATS / slab));
    List<Chunk> chunks = new ArrayList<>();
    for (int o = 0; o < s.outer(); o += perChunk) {
      int count = Math.min(perChunk, s.outer() - o);
      chunks.add(new Chunk(o, count, (int) (o * slab)));
    }
    return chunks;
  }

  private <T> List<T> run(List<Callable<T>> tasks) {
    if (tasks.size() == 1) { // one chunk: stay on the calling thread
      try {
        return java.util.Collections.singletonList(tasks.get(0).call());
      } catch (RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
    List<Future<T>> futures = new ArrayList<>();
    for (Callable<T> t : tasks) futures.add(executor.submit(t));
    List<T> results = new ArrayList<>();
    try {
      for (Future<T> f : futures) results.add(f.get());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) throw re;
      throw new IllegalStateException(e.getCause());
    }
    return results;
  }

  /** As {@link BatchNorm#forwardTraining(NormShape, float[], int, float[], float[], float, float[], int, float[], float[], float[])}. */
  public void forwardTraining(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                              float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    int C = s.channels();
    List<Chunk> chunks = partition(s);
    List<Callable<float[]>> tasks = new ArrayList<>();
    for (Chunk ch : chunks) {
      tasks.add(() -> {
        float[] out = new float[2 * C];
        float[] mean = new float[C], m2 = new float[C];
        impl.moments(x, xOffset + ch.offset(), ch.outerCount(), C, s.inner(), mean, m2);
        System.arraycopy(mean, 0, out, 0, C);
        System.arraycopy(m2, 0, out, C, C);
        return out;
      });
    }
    List<float[]> partial = run(tasks);
    double[] runMean = new double[C], runM2 = new double[C];
    double count = 0;
    float[] chunkMean = new float[C], chunkM2 = new float[C];
    for (int i = 0; i < chunks.size(); i++) {
      System.arraycopy(partial.get(i), 0, chunkMean, 0, C);
      System.arraycopy(partial.get(i), C, chunkM2, 0, C);
      count = Staging.mergeChunk(runMean, runM2, count, chunkMean, chunkM2, (double) chunks.get(i).outerCount() * s.inner());
    }
    for (int c = 0; c < C; c++) {
      batchMean[c] = (float) runMean[c];
      batchVariance[c] = (float) runM2[c]; // M2; finishStatistics divides by the count
    }
    Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
    normalizeChunks(s, x, xOffset, y, yOffset, batchMean, invStd, false, epsilon, gamma, beta, chunks);
  }

  /** As {@link BatchNorm#forwardInference(NormShape, float[], int, float[], float[], float[], float[], float, float[], int)}. */
  public void forwardInference(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float[] movingMean,
                               float[] movingVariance, float epsilon, float[] y, int yOffset) {
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    normalizeChunks(s, x, xOffset, y, yOffset, movingMean, movingVariance, true, epsilon, gamma, beta, partition(s));
  }

  private void normalizeChunks(NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] mean, float[] scale,
                               boolean fromVariance, float epsilon, float[] gamma, float[] beta, List<Chunk> chunks) {
    List<Callable<Void>> tasks = new ArrayList<>();
    for (Chunk ch : chunks) {
      tasks.add(() -> {
        impl.normalize(x, xOffset + ch.offset(), y, yOffset + ch.offset(), ch.outerCount(), s.channels(), s.inner(), mean, scale,
            fromVariance, epsilon, gamma, beta);
        return null;
      });
    }
    run(tasks);
  }

  /** As {@link BatchNorm#backward(NormShape, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])}. */
  public void backward(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] batchMean,
                       float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    Kernels.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    int C = s.channels();
    List<Chunk> chunks = partition(s);
    List<Callable<float[]>> reduce = new ArrayList<>();
    for (Chunk ch : chunks) {
      reduce.add(() -> {
        float[] sumDy = new float[C], sumDyXhat = new float[C];
        impl.backwardReduce(x, xOffset + ch.offset(), dy, dyOffset + ch.offset(), ch.outerCount(), C, s.inner(), batchMean, invStd,
            sumDy, sumDyXhat);
        float[] out = new float[2 * C];
        System.arraycopy(sumDy, 0, out, 0, C);
        System.arraycopy(sumDyXhat, 0, out, C, C);
        return out;
      });
    }
    List<float[]> partial = run(reduce);
    double[] sumDy = new double[C], sumDyXhat = new double[C];
    for (float[] p : partial) { // chunk order: the same sums for any thread count
      for (int c = 0; c < C; c++) {
        sumDy[c] += p[c];
        sumDyXhat[c] += p[C + c];
      }
    }
    float[] fDy = dBeta != null ? dBeta : new float[C], fDyXhat = dGamma != null ? dGamma : new float[C];
    for (int c = 0; c < C; c++) {
      fDy[c] = (float) sumDy[c];
      fDyXhat[c] = (float) sumDyXhat[c];
    }
    List<Callable<Void>> apply = new ArrayList<>();
    for (Chunk ch : chunks) {
      apply.add(() -> {
        impl.backwardApply(x, xOffset + ch.offset(), dy, dyOffset + ch.offset(), dx, dxOffset + ch.offset(), ch.outerCount(), C,
            s.inner(), batchMean, invStd, gamma, fDy, fDyXhat, s.countPerChannel());
        return null;
      });
    }
    run(apply);
  }
}
