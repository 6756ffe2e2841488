package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.FusedReluSupport;
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
 * bitwise identical for any thread count: the tensor is cut into a fixed partition of chunks (about
 * 1 MiB each, chosen from the shape only: blocks of rows for channels-last, of whole slabs or of
 * channels within a slab for channels-first), chunk statistics and backward sums are
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
  private final FusedReluSupport fused = VectorizationProvider.fusedRelu();
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

  /** Outer slabs {@code [outerFrom, +outerCount)} restricted to channels {@code [channelFrom, +channelCount)}: contiguous. */
  private record Chunk(int outerFrom, int outerCount, int channelFrom, int channelCount, int offset) {
    /** The chunk's part of a per-channel array (the array itself when the chunk has every channel). */
    float[] slice(float[] perChannel) {
      if (perChannel == null || (channelFrom == 0 && channelCount == perChannel.length)) return perChannel;
      return java.util.Arrays.copyOfRange(perChannel, channelFrom, channelFrom + channelCount);
    }
  }

  /**
   * Channels-last: blocks of rows. Channels-first: blocks of whole [channels, inner] slabs, or, when
   * one slab is larger than a chunk, blocks of channels within each slab. Depends on the shape only.
   */
  private static List<Chunk> partition(NormShape s) {
    int C = s.channels(), inner = s.inner();
    long slab = (long) C * inner;
    List<Chunk> chunks = new ArrayList<>();
    if (inner > 1 && slab > CHUNK_FLOATS) {
      int perChunk = Math.max(1, CHUNK_FLOATS / inner);
      for (int o = 0; o < s.outer(); o++) {
        for (int c = 0; c < C; c += perChunk) {
          chunks.add(new Chunk(o, 1, c, Math.min(perChunk, C - c), (int) (o * slab + (long) c * inner)));
        }
      }
      return chunks;
    }
    int perChunk = (int) Math.max(1, Math.min(s.outer(), CHUNK_FLOATS / slab));
    for (int o = 0; o < s.outer(); o += perChunk) {
      chunks.add(new Chunk(o, Math.min(perChunk, s.outer() - o), 0, C, (int) (o * slab)));
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
    List<Chunk> chunks = partition(s);
    chunkedMoments(s, x, xOffset, chunks, batchMean, batchVariance);
    Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
    normalizeChunks(s, x, xOffset, y, yOffset, batchMean, invStd, false, epsilon, gamma, beta, chunks);
  }

  /** Chunk moments in parallel, merged in chunk order (double): writes mean and biased variance. */
  private void chunkedMoments(NormShape s, float[] x, int xOffset, List<Chunk> chunks, float[] mean, float[] m2) {
    int C = s.channels();
    List<Callable<float[][]>> tasks = new ArrayList<>();
    for (Chunk ch : chunks) {
      tasks.add(() -> {
        float[] chunkMean = new float[ch.channelCount()], chunkM2 = new float[ch.channelCount()];
        impl.moments(x, xOffset + ch.offset(), ch.outerCount(), ch.channelCount(), s.inner(), chunkMean, chunkM2);
        return new float[][] {chunkMean, chunkM2};
      });
    }
    List<float[][]> partial = run(tasks);
    double[] runMean = new double[C], runM2 = new double[C], count = new double[C];
    for (int i = 0; i < chunks.size(); i++) { // chunk order: the same merge for any thread count
      Chunk ch = chunks.get(i);
      Staging.mergeChunk(count, runMean, runM2, ch.channelFrom(), partial.get(i)[0], partial.get(i)[1],
          (double) ch.outerCount() * s.inner());
    }
    for (int c = 0; c < C; c++) {
      mean[c] = (float) runMean[c];
      m2[c] = (float) (runM2[c] / count[c]);
    }
  }

  /** As {@link BatchNorm#moments(NormShape, float[], int, Moments)}: local moments for synchronized batch norm. */
  public void moments(NormShape s, float[] x, int xOffset, Moments out) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Objects.requireNonNull(out, "out");
    if (out.channels() != s.channels()) throw new IllegalArgumentException("out must have channels = " + s.channels() + ", got " + out.channels());
    chunkedMoments(s, x, xOffset, partition(s), out.scratchMean, out.scratchM2);
    out.setFromScratch(s.countPerChannel());
  }

  /** As {@link BatchNorm#normalize(NormShape, float[], int, float[], float[], float[], float[], float[], int)}. */
  public void normalize(NormShape s, float[] x, int xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                        float[] y, int yOffset) {
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkAffine(s, gamma, beta);
    Checks.perChannel("mean", mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
    normalizeChunks(s, x, xOffset, y, yOffset, mean, invStd, false, 1f, gamma, beta, partition(s));
  }

  /** As {@link BatchNorm#backwardReduce(NormShape, float[], int, float[], int, float[], float[], float[], float[])}. */
  public void backwardReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean, float[] invStd,
                             float[] sumDy, float[] sumDyXhat) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    Checks.perChannel("mean", mean, s.channels(), false);
    Checks.perChannel("invStd", invStd, s.channels(), false);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.distinct("sumDy", sumDy, "sumDyXhat", sumDyXhat);
    chunkedReduce(s, x, xOffset, dy, dyOffset, mean, invStd, partition(s), sumDy, sumDyXhat);
  }

  /** As {@link BatchNorm#backwardApply(NormShape, float[], int, float[], int, float[], float[], float[], float[], float[], long, float[], int)}. */
  public void backwardApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                            float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount, float[] dx, int dxOffset) {
    Kernels.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkBackward(s, gamma, mean, invStd, null, null);
    Checks.perChannel("sumDy", sumDy, s.channels(), false);
    Checks.perChannel("sumDyXhat", sumDyXhat, s.channels(), false);
    Checks.count("globalCount", globalCount, s.countPerChannel());
    chunkedApply(s, x, xOffset, dy, dyOffset, dx, dxOffset, gamma, mean, invStd, sumDy, sumDyXhat, globalCount, partition(s));
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
        impl.normalize(x, xOffset + ch.offset(), y, yOffset + ch.offset(), ch.outerCount(), ch.channelCount(), s.inner(),
            ch.slice(mean), ch.slice(scale), fromVariance, epsilon, ch.slice(gamma), ch.slice(beta));
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
    List<Chunk> chunks = partition(s);
    float[] sumDy = Kernels.orTemporary(dBeta, s), sumDyXhat = Kernels.orTemporary(dGamma, s);
    chunkedReduce(s, x, xOffset, dy, dyOffset, batchMean, invStd, chunks, sumDy, sumDyXhat);
    chunkedApply(s, x, xOffset, dy, dyOffset, dx, dxOffset, gamma, batchMean, invStd, sumDy, sumDyXhat, s.countPerChannel(), chunks);
  }

  /** Chunk sums in parallel, added in chunk order (double): the same sums for any thread count. */
  private void chunkedReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean, float[] invStd,
                             List<Chunk> chunks, float[] sumDy, float[] sumDyXhat) {
    int C = s.channels();
    List<Callable<float[][]>> reduce = new ArrayList<>();
    for (Chunk ch : chunks) {
      reduce.add(() -> {
        float[] chunkDy = new float[ch.channelCount()], chunkDyXhat = new float[ch.channelCount()];
        impl.backwardReduce(x, xOffset + ch.offset(), dy, dyOffset + ch.offset(), ch.outerCount(), ch.channelCount(), s.inner(),
            ch.slice(mean), ch.slice(invStd), chunkDy, chunkDyXhat);
        return new float[][] {chunkDy, chunkDyXhat};
      });
    }
    addInChunkOrder(chunks, run(reduce), sumDy, sumDyXhat);
  }

  /** Adds per-chunk {sumDy, sumDyXhat} in chunk order, in double: the same sums for any thread count. */
  private static void addInChunkOrder(List<Chunk> chunks, List<float[][]> partial, float[] sumDy, float[] sumDyXhat) {
    int C = sumDy.length;
    double[] accDy = new double[C], accDyXhat = new double[C];
    for (int i = 0; i < chunks.size(); i++) {
      Chunk ch = chunks.get(i);
      for (int k = 0; k < ch.channelCount(); k++) {
        accDy[ch.channelFrom() + k] += partial.get(i)[0][k];
        accDyXhat[ch.channelFrom() + k] += partial.get(i)[1][k];
      }
    }
    for (int c = 0; c < C; c++) {
      sumDy[c] = (float) accDy[c];
      sumDyXhat[c] = (float) accDyXhat[c];
    }
  }

  private void chunkedApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, float[] gamma,
                            float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, double count, List<Chunk> chunks) {
    List<Callable<Void>> apply = new ArrayList<>();
    for (Chunk ch : chunks) {
      apply.add(() -> {
        impl.backwardApply(x, xOffset + ch.offset(), dy, dyOffset + ch.offset(), dx, dxOffset + ch.offset(), ch.outerCount(),
            ch.channelCount(), s.inner(), ch.slice(mean), ch.slice(invStd), ch.slice(gamma), ch.slice(sumDy), ch.slice(sumDyXhat), count);
        return null;
      });
    }
    run(apply);
  }

  // ------------------------------------------------------------------ fused BN (+ residual) + ReLU

  /** As {@link BatchNormRelu#forwardTraining}. */
  public void forwardTrainingRelu(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset, float[] gamma,
                                  float[] beta, float epsilon, float[] y, int yOffset, float[] batchMean, float[] batchVariance,
                                  float[] invStd) {
    BatchNormRelu.checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    List<Chunk> chunks = partition(s);
    chunkedMoments(s, x, xOffset, chunks, batchMean, batchVariance);
    Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
    reluChunks(s, x, xOffset, residual, residualOffset, y, yOffset, batchMean, invStd, gamma, beta, chunks);
  }

  /** As {@link BatchNormRelu#forwardInference}. */
  public void forwardInferenceRelu(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset, float[] gamma,
                                   float[] beta, float[] movingMean, float[] movingVariance, float epsilon, float[] y, int yOffset) {
    BatchNormRelu.checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    float[] invStd = BatchNormRelu.invStdOf(movingVariance, epsilon);
    reluChunks(s, x, xOffset, residual, residualOffset, y, yOffset, movingMean, invStd, gamma, beta, partition(s));
  }

  private void reluChunks(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset, float[] y, int yOffset,
                          float[] mean, float[] invStd, float[] gamma, float[] beta, List<Chunk> chunks) {
    List<Callable<Void>> tasks = new ArrayList<>();
    for (Chunk ch : chunks) {
      tasks.add(() -> {
        fused.normalizeRelu(x, xOffset + ch.offset(), residual, residualOffset + ch.offset(), y, yOffset + ch.offset(),
            ch.outerCount(), ch.channelCount(), s.inner(), ch.slice(mean), ch.slice(invStd), ch.slice(gamma), ch.slice(beta));
        return null;
      });
    }
    run(tasks);
  }

  /** As {@link BatchNormRelu#backward}. */
  public void backwardRelu(NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] gamma,
                           float[] batchMean, float[] invStd, float[] dx, int dxOffset, float[] dResidual, int dResidualOffset,
                           float[] dGamma, float[] dBeta) {
    BatchNormRelu.checkBackwardTensors(s, x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    int C = s.channels();
    List<Chunk> chunks = partition(s);
    List<Callable<float[][]>> reduce = new ArrayList<>();
    for (Chunk ch : chunks) {
      reduce.add(() -> {
        float[] chunkDy = new float[ch.channelCount()], chunkDyXhat = new float[ch.channelCount()];
        fused.backwardReduceRelu(x, xOffset + ch.offset(), y, yOffset + ch.offset(), dy, dyOffset + ch.offset(), ch.outerCount(),
            ch.channelCount(), s.inner(), ch.slice(batchMean), ch.slice(invStd), chunkDy, chunkDyXhat);
        return new float[][] {chunkDy, chunkDyXhat};
      });
    }
    float[] sumDy = Kernels.orTemporary(dBeta, s), sumDyXhat = Kernels.orTemporary(dGamma, s);
    addInChunkOrder(chunks, run(reduce), sumDy, sumDyXhat);
    List<Callable<Void>> apply = new ArrayList<>();
    for (Chunk ch : chunks) {
      apply.add(() -> {
        fused.backwardApplyRelu(x, xOffset + ch.offset(), y, yOffset + ch.offset(), dy, dyOffset + ch.offset(), dx, dxOffset + ch.offset(),
            dResidual, dResidualOffset + ch.offset(), ch.outerCount(), ch.channelCount(), s.inner(), ch.slice(batchMean),
            ch.slice(invStd), ch.slice(gamma), ch.slice(sumDy), ch.slice(sumDyXhat), s.countPerChannel());
        return null;
      });
    }
    run(apply);
  }
}
