package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.ChunkJob;
import dev.vecnorm.internal.Coefficients;
import dev.vecnorm.internal.ExecutorLoop;
import dev.vecnorm.internal.FusedReluSupport;
import dev.vecnorm.internal.ScalarBatchNormSupport;
import dev.vecnorm.internal.ThreadTeam;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The {@link BatchNorm} and {@link BatchNormRelu} operations on several threads, over {@code float[]}
 * or {@link MemorySegment} tensors, with results that are bitwise identical for any thread count.
 *
 * <p><b>Determinism.</b> The tensor is cut into a fixed partition of chunks chosen from the shape only
 * (blocks of rows for channels-last; blocks of whole slabs, or of channels within a slab, for
 * channels-first); chunk statistics and backward sums are merged in chunk order, in double, and
 * normalization chunks are independent. Results equal {@link BatchNorm}'s single-pass ones to float
 * rounding, not to the bit: the merge order differs.
 *
 * <p><b>Threads.</b> {@link #ParallelBatchNorm(int)} owns {@code threads - 1} workers that spin for
 * about 100 µs after a loop before parking, so the loops of one call, and back-to-back calls (a
 * training step), find them awake instead of paying the ~60 µs a parked thread takes to wake here;
 * workers never spin when the pool has more threads than the machine has processors. The calling
 * thread runs chunks too, so a tensor of 1 MiB already splits (chunks of 512 KiB and up, at most
 * {@value #MAX_CHUNKS} per tensor). {@link #ParallelBatchNorm(ExecutorService)} uses the caller's
 * executor instead: the caller submits helpers and runs chunks itself, so it never waits for a helper
 * that has not started. That makes calls from tasks of the very executor they use safe (no deadlock
 * on a saturated pool), and when the executor rejects a helper the caller runs its chunks. Tensors
 * of one chunk, and native segments confined to the calling thread, run on the calling thread.
 *
 * <p><b>Guarantees.</b>
 * <ul>
 *   <li>When a call returns or throws, no chunk it started is still running or writing.</li>
 *   <li>Interrupting the caller does not abort a call (it is bounded computation, and stopping half
 *       way would leave half-written outputs); the call completes and the interrupt status stays set.</li>
 *   <li>One instance may be used by several threads at once: each call uses its own chunk state. Calls
 *       that find the owned workers busy with another thread's call run on their own thread; the bits
 *       are the same either way.</li>
 *   <li>After {@link #close()} every operation throws {@link IllegalStateException}.</li>
 *   <li>Arguments are checked as by {@link BatchNorm} and {@link BatchNormRelu}, before anything is written.</li>
 * </ul>
 * Steady-state calls on {@code float[]} with an owned pool allocate nothing (chunk state is kept per
 * shape and reused), except where {@link BatchNorm} and {@link BatchNormRelu} do too (a backward
 * without dGamma/dBeta, the fused inference's invStd). An executor costs one {@link Future} per helper
 * per call. Native segments run each chunk through the library's segment path (the fused ReLU
 * operations stage each chunk into a pooled array, as BatchNormRelu has no segment path).
 */
public final class ParallelBatchNorm implements AutoCloseable {
  /**
   * Smallest chunk, in floats (512 KiB): tens of µs of work, far above a spinning hand-off. Not smaller:
   * each kernel call has a fixed cost (pivot rows, per-position scratch, the fold into channels); with
   * 128 KiB chunks, one thread on NC 256x1024 (eight 32-row chunks) took twice BatchNorm's training forward.
   */
  static final int CHUNK_FLOATS = 1 << 17;
  /** At most this many chunks (larger tensors get larger chunks): bounds the per-chunk partial sums. */
  static final int MAX_CHUNKS = 256;
  /** Channels-last chunks have at least this many rows, so their partial sums stay small against the data. */
  static final int MIN_ROWS = 8;
  /**
   * Channels-last tensors of at least {@code WIDE_CHANNELS} channels are cut into at most {@code WIDE_CHUNKS} chunks
   * (fewer when {@link #CHUNK_FLOATS} chunks are fewer): each chunk's kernel calls pay per-call costs that grow with
   * the channels (first pivots, the per-position fold, the mean residual, its share of the merge). NHWC
   * 32x7x7x2048 went from 25 chunks of 64 rows to 8 of 196: {@code ParallelBatchNorm(1)}'s training forward 0.84x,
   * NHWC 16x7x7x4096 (49 chunks of 16 rows to 8 of 98) 0.79x (par13's one-JVM A/B, thirteenth session). At 512
   * channels (NHWC 8x28x28x512, 25 chunks of 256 rows) 8 chunks gained nothing (1.04x), so the rule starts at 1024.
   */
  static final int WIDE_CHANNELS = 1024, WIDE_CHUNKS = 8;

  /** Never started: a segment it may access is not confined to one thread. */
  private static final Thread ANOTHER_THREAD = Thread.ofPlatform().unstarted(() -> {});

  private final BatchNormSupport impl;
  private final Kernels kernels;
  private final FusedReluSupport fused = VectorizationProvider.fusedRelu();
  private final ThreadTeam team;
  /** Chunk state of recent shapes, taken by one call at a time. */
  private final AtomicReferenceArray<Work> idle = new AtomicReferenceArray<>(8);

  /**
   * {@code threads} threads in all (1 to 32): the caller and {@code threads - 1} owned daemon workers
   * ({@link #close()} stops them).
   *
   * @param threads threads per call, the caller included: 1 to 32
   */
  public ParallelBatchNorm(int threads) {
    this(VectorizationProvider.get(), threads);
  }

  ParallelBatchNorm(BatchNormSupport impl, int threads) {
    this.team = ThreadTeam.owned(threads, "ParallelBatchNorm", "vecnorm-worker");
    this.impl = impl;
    this.kernels = new Kernels(impl);
  }

  /**
   * Runs on the caller's executor (not shut down by {@link #close()}), with up to {@code availableProcessors()} threads.
   *
   * @param executor runs the helper chunks; not null
   */
  public ParallelBatchNorm(ExecutorService executor) {
    this.team = ThreadTeam.on(executor, "ParallelBatchNorm");
    this.impl = VectorizationProvider.get();
    this.kernels = new Kernels(impl);
  }

  /**
   * A pool of {@code availableProcessors()} threads.
   *
   * @return a new instance owning its threads; close it when done
   */
  public static ParallelBatchNorm withAvailableProcessors() {
    return new ParallelBatchNorm(ThreadTeam.availableThreads());
  }

  /**
   * Parallelism of this instance.
   *
   * @return the number of threads chunks run on
   */
  public int threads() {
    return team.threads();
  }

  /** Stops the owned workers (a caller's executor is left running); later calls throw. Idempotent. */
  @Override
  public void close() {
    team.close();
  }

  private void ensureOpen() {
    team.ensureOpen();
  }

  // ------------------------------------------------------------------ training and inference forward

  /**
   * As {@link BatchNorm#forwardTraining(NormShape, float[], int, float[], float[], float, float[], int, float[], float[], float[])}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public void forwardTraining(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                              float[] y, int yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    ensureOpen();
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(Y, y, yOffset);
      training(w, false, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#forwardTraining(NormShape, MemorySegment, long, float[], float[], float, MemorySegment, long, float[], float[], float[])}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public void forwardTraining(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                              MemorySegment y, long yOffset, float[] batchMean, float[] batchVariance, float[] invStd) {
    ensureOpen();
    Kernels.checkSegments(s, x, xOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(Y, y, yOffset);
      training(w, false, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    } finally {
      release(w);
    }
  }

  /** Moments, statistics, then plain or fused normalization: the body of every training forward. */
  private void training(Work w, boolean relu, float[] gamma, float[] beta, float epsilon, float[] batchMean,
                        float[] batchVariance, float[] invStd) {
    // Channels-last arrays in several chunks: the merge ranges also fold each channel's normalize
    // coefficients, so the normalize chunks skip the kernel's per-call fold (see Work#fold).
    boolean fold = !relu && w.folded != null && !w.segments && w.plan.count() > 1;
    w.foldWith(fold, gamma, beta);
    if (!chunkedMoments(w, batchMean, null, batchVariance, invStd, epsilon)) {
      Kernels.finishStatistics(w.plan.shape, epsilon, batchVariance, invStd);
    }
    w.perChannel(batchMean, invStd, false, epsilon, gamma, beta);
    loop(w, relu ? RELU_NORMALIZE : fold ? NORMALIZE_FOLDED : NORMALIZE);
  }

  private void chunkedMoments(Work w, float[] mean, float[] meanResidual, float[] variance) {
    chunkedMoments(w, mean, meanResidual, variance, null, 0f);
  }

  /**
   * Chunk moments on the threads, merged in chunk order in double: writes mean, biased variance and,
   * when {@code meanResidual} is not null, the float means' rounding errors (for {@link Moments}).
   * When {@code invStd} is not null the merge also derives it as {@link Kernels#finishStatistics} does,
   * on the threads, and this returns true; false means the caller must derive it.
   */
  private boolean chunkedMoments(Work w, float[] mean, float[] meanResidual, float[] variance, float[] invStd, float epsilon) {
    if (w.plan.count() == 1 && !w.segments) {
      // Too small to split, on any thread count: the kernel's own statistics, without a merge into double and back.
      NormShape s = w.plan.shape();
      impl.moments(w.arrays[X], w.arrayOffsets[X], s.outer(), s.channels(), s.inner(), mean, meanResidual, variance);
      return false;
    }
    loop(w, MOMENTS);
    w.mean = mean;
    w.meanResidual = meanResidual;
    w.variance = variance;
    w.statsInvStd = invStd;
    w.epsilon = epsilon;
    if (w.mergeRanges > 1) {
      // The merge and the square roots cost a few ns per channel and chunk: microseconds for wide
      // layers, so channel ranges merge on the threads (each channel still merges its chunks in chunk order).
      loop(w, MERGE, w.mergeRanges);
    } else {
      w.merge(0, mean.length);
    }
    return invStd != null;
  }

  /**
   * As {@link BatchNorm#forwardInference(NormShape, float[], int, float[], float[], float[], float[], float, float[], int)}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public void forwardInference(NormShape s, float[] x, int xOffset, float[] gamma, float[] beta, float[] movingMean,
                               float[] movingVariance, float epsilon, float[] y, int yOffset) {
    ensureOpen();
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(Y, y, yOffset).inference(movingMean, movingVariance, epsilon, gamma, beta);
      loop(w, NORMALIZE);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#forwardInference(NormShape, MemorySegment, long, float[], float[], float[], float[], float, MemorySegment, long)}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   */
  public void forwardInference(NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float[] movingMean,
                               float[] movingVariance, float epsilon, MemorySegment y, long yOffset) {
    ensureOpen();
    Kernels.checkSegments(s, x, xOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(Y, y, yOffset).inference(movingMean, movingVariance, epsilon, gamma, beta);
      loop(w, NORMALIZE);
    } finally {
      release(w);
    }
  }

  // ------------------------------------------------------------------ phases of synchronized batch norm

  /**
   * As {@link BatchNorm#moments(NormShape, float[], int, Moments)}: local moments for synchronized batch norm.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param out receives this tensor's per-channel moments (its content is replaced); channel count {@code s.channels()}
   */
  public void moments(NormShape s, float[] x, int xOffset, Moments out) {
    ensureOpen();
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Kernels.checkMoments(s, out);
    Work w = take(s);
    try {
      chunkedMoments(w.array(X, x, xOffset), out.scratchMean, out.scratchMeanResidual, out.scratchM2);
    } finally {
      release(w);
    }
    out.setFromScratch(s.countPerChannel());
  }

  /**
   * As {@link BatchNorm#moments(NormShape, MemorySegment, long, Moments)}; offset in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param out receives this tensor's per-channel moments (its content is replaced); channel count {@code s.channels()}
   */
  public void moments(NormShape s, MemorySegment x, long xOffset, Moments out) {
    ensureOpen();
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Kernels.checkMoments(s, out);
    Work w = take(s);
    try {
      chunkedMoments(w.segment(X, x, xOffset), out.scratchMean, out.scratchMeanResidual, out.scratchM2);
    } finally {
      release(w);
    }
    out.setFromScratch(s.countPerChannel());
  }

  /**
   * As {@link BatchNorm#normalize(NormShape, float[], int, float[], float[], float[], float[], float[], int)}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public void normalize(NormShape s, float[] x, int xOffset, float[] mean, float[] invStd, float[] gamma, float[] beta,
                        float[] y, int yOffset) {
    ensureOpen();
    checkArrays(s, x, xOffset, y, yOffset);
    Kernels.checkGiven(s, mean, invStd, gamma, beta);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(Y, y, yOffset).perChannel(mean, invStd, false, 1f, gamma, beta);
      loop(w, NORMALIZE);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#normalize(NormShape, MemorySegment, long, float[], float[], float[], float[], MemorySegment, long)}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   */
  public void normalize(NormShape s, MemorySegment x, long xOffset, float[] mean, float[] invStd, float[] gamma,
                        float[] beta, MemorySegment y, long yOffset) {
    ensureOpen();
    Kernels.checkSegments(s, x, xOffset, y, yOffset);
    Kernels.checkGiven(s, mean, invStd, gamma, beta);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(Y, y, yOffset).perChannel(mean, invStd, false, 1f, gamma, beta);
      loop(w, NORMALIZE);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#backwardReduce(NormShape, float[], int, float[], int, float[], float[], float[], float[])}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy output: per-channel local {@code sum(dy)}, {@code float[channels]}
   * @param sumDyXhat output: per-channel local {@code sum(dy * xhat)}, {@code float[channels]}
   */
  public void backwardReduce(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] mean, float[] invStd,
                             float[] sumDy, float[] sumDyXhat) {
    ensureOpen();
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("dy", dy, dyOffset, s);
    Kernels.checkReduce(s, mean, invStd, sumDy, sumDyXhat);
    Work w = take(s);
    try {
      chunkedReduce(w.array(X, x, xOffset).array(DY, dy, dyOffset), REDUCE, mean, invStd, sumDy, sumDyXhat);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#backwardReduce(NormShape, MemorySegment, long, MemorySegment, long, float[], float[], float[], float[])}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy output: per-channel local {@code sum(dy)}, {@code float[channels]}
   * @param sumDyXhat output: per-channel local {@code sum(dy * xhat)}, {@code float[channels]}
   */
  public void backwardReduce(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] mean,
                             float[] invStd, float[] sumDy, float[] sumDyXhat) {
    ensureOpen();
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s, false);
    Checks.tensor("dy", dy, dyOffset, s, false);
    Kernels.checkReduce(s, mean, invStd, sumDy, sumDyXhat);
    Work w = take(s);
    try {
      chunkedReduce(w.segment(X, x, xOffset).segment(DY, dy, dyOffset), REDUCE, mean, invStd, sumDy, sumDyXhat);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#backwardApply(NormShape, float[], int, float[], int, float[], float[], float[], float[], float[], long, float[], int)}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy per-channel {@code sum(dy)} all-reduced across replicas, {@code float[channels]}
   * @param sumDyXhat per-channel {@code sum(dy * xhat)} all-reduced across replicas, {@code float[channels]}
   * @param globalCount elements per channel across all replicas, at least 1
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   */
  public void backwardApply(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                            float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount, float[] dx, int dxOffset) {
    ensureOpen();
    Kernels.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkApply(s, gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(DY, dy, dyOffset).array(DX, dx, dxOffset).sums(gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
      loop(w, APPLY);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#backwardApply(NormShape, MemorySegment, long, MemorySegment, long, float[], float[], float[], float[], float[], long, MemorySegment, long)}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param mean per-channel mean to normalize with (for example the global batch mean), {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param sumDy per-channel {@code sum(dy)} all-reduced across replicas, {@code float[channels]}
   * @param sumDyXhat per-channel {@code sum(dy * xhat)} all-reduced across replicas, {@code float[channels]}
   * @param globalCount elements per channel across all replicas, at least 1
   * @param dx output: gradient of the loss with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   */
  public void backwardApply(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                            float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long globalCount,
                            MemorySegment dx, long dxOffset) {
    ensureOpen();
    Kernels.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkApply(s, gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(DY, dy, dyOffset).segment(DX, dx, dxOffset)
          .sums(gamma, mean, invStd, sumDy, sumDyXhat, globalCount);
      loop(w, APPLY);
    } finally {
      release(w);
    }
  }

  // ------------------------------------------------------------------ backward

  /**
   * As {@link BatchNorm#backward(NormShape, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public void backward(NormShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] batchMean,
                       float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    Kernels.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(DY, dy, dyOffset).array(DX, dx, dxOffset);
      backward(w, false, gamma, batchMean, invStd, dGamma, dBeta);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNorm#backward(NormShape, MemorySegment, long, MemorySegment, long, float[], float[], float[], MemorySegment, long, float[], float[])}; offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public void backward(NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                       float[] batchMean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    Kernels.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(DY, dy, dyOffset).segment(DX, dx, dxOffset);
      backward(w, false, gamma, batchMean, invStd, dGamma, dBeta);
    } finally {
      release(w);
    }
  }

  /**
   * Reduce, then apply: the body of every backward, plain or fused. Channels-first tensors whose chunks
   * are planes of {@value #FUSED_MIN_INNER}+ floats ({@link Work#fusable}) go channel by channel instead
   * ({@link Work#fusedChannel}): the same bits, x and dy read from memory once.
   */
  private void backward(Work w, boolean relu, float[] gamma, float[] batchMean, float[] invStd, float[] dGamma, float[] dBeta) {
    NormShape s = w.plan.shape();
    float[] sumDy = Kernels.orTemporary(dBeta, s), sumDyXhat = Kernels.orTemporary(dGamma, s);
    if (!relu && w.plan.count() == 1 && !w.segments) {
      // One chunk on any thread count: the single-threaded kernel, whose sums are the chunk's (a float added to 0 in double).
      impl.backward(w.arrays[X], w.arrayOffsets[X], w.arrays[DY], w.arrayOffsets[DY], w.arrays[DX], w.arrayOffsets[DX], s.outer(),
          s.channels(), s.inner(), batchMean, invStd, gamma, sumDy, sumDyXhat, s.countPerChannel());
      return;
    }
    if (!relu && w.memoryOrder && !w.segments) {
      // Short planes (BatchNorm's backward walks them in memory order): each thread a range of channels, reduced then
      // applied sample by sample, each sample's part one contiguous run; the chunked route's bits (memoryOrder).
      w.fused(gamma, batchMean, invStd, sumDy, sumDyXhat, s.countPerChannel());
      w.ranges = Math.min(team.threads(), s.channels());
      loop(w, CHANNEL_RANGES, w.ranges);
      return;
    }
    if (!relu && w.fusable && !w.segments) {
      w.fused(gamma, batchMean, invStd, sumDy, sumDyXhat, s.countPerChannel());
      if (s.channels() >= FUSED_CHANNELS_PER_THREAD * team.threads() || s.outer() < 2) {
        loop(w, FUSED_BACKWARD, s.channels()); // enough channels to keep every thread busy: one channel per index
      } else {
        // Few channels (RGB input: 3 on 2 threads would leave one thread idle a third of the time): all threads
        // share each channel's planes, reduce then apply, each thread applying the planes it reduced (ChunkJob
        // hands a participant the same index range in both loops), from its own L2 while they fit.
        for (int c = 0; c < s.channels(); c++) {
          w.channelArgs(c);
          loop(w, REDUCE_PLANES, s.outer());
          w.channelSums(c);
          loop(w, APPLY_PLANES, s.outer());
        }
      }
      return;
    }
    chunkedReduce(w, relu ? RELU_REDUCE : REDUCE, batchMean, invStd, sumDy, sumDyXhat);
    w.sums(gamma, batchMean, invStd, sumDy, sumDyXhat, s.countPerChannel());
    loop(w, relu ? RELU_APPLY : APPLY);
  }

  /** Chunk sums on the threads, added in chunk order in double: the same sums for any thread count. */
  private void chunkedReduce(Work w, int op, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    w.perChannel(mean, invStd, false, 1f, null, null);
    loop(w, op);
    Plan p = w.plan;
    double[] accDy = w.accA, accDyXhat = w.accB;
    Arrays.fill(accDy, 0);
    Arrays.fill(accDyXhat, 0);
    for (int i = 0; i < p.count(); i++) {
      float[] chunkDy = w.partA[i], chunkDyXhat = w.partB[i];
      int from = p.channelFrom()[i];
      for (int k = 0; k < chunkDy.length; k++) {
        accDy[from + k] += chunkDy[k];
        accDyXhat[from + k] += chunkDyXhat[k];
      }
    }
    for (int c = 0; c < sumDy.length; c++) {
      sumDy[c] = (float) accDy[c];
      sumDyXhat[c] = (float) accDyXhat[c];
    }
  }

  // ------------------------------------------------------------------ fused BN (+ residual) + ReLU

  /**
   * As {@link BatchNormRelu#forwardTraining}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param residual tensor added before the ReLU: {@code s.size()} floats from element offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset element offset of {@code residual}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public void forwardTrainingRelu(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset, float[] gamma,
                                  float[] beta, float epsilon, float[] y, int yOffset, float[] batchMean, float[] batchVariance,
                                  float[] invStd) {
    ensureOpen();
    BatchNormRelu.checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(RES, residual, residualOffset).array(Y, y, yOffset);
      training(w, true, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    } finally {
      release(w);
    }
  }

  /**
   * {@link #forwardTrainingRelu(NormShape, float[], int, float[], int, float[], float[], float, float[], int, float[], float[], float[])} on segments (residual may be null); offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param residual tensor added before the ReLU: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset byte offset of {@code residual}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param batchMean output: per-channel batch mean, {@code float[channels]}
   * @param batchVariance output: per-channel biased batch variance, {@code float[channels]}
   * @param invStd output: per-channel {@code 1 / sqrt(batchVariance + epsilon)}, {@code float[channels]}
   */
  public void forwardTrainingRelu(NormShape s, MemorySegment x, long xOffset, MemorySegment residual, long residualOffset,
                                  float[] gamma, float[] beta, float epsilon, MemorySegment y, long yOffset, float[] batchMean,
                                  float[] batchVariance, float[] invStd) {
    ensureOpen();
    checkReluForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkTraining(s, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(RES, residual, residualOffset).segment(Y, y, yOffset);
      training(w, true, gamma, beta, epsilon, batchMean, batchVariance, invStd);
    } finally {
      release(w);
    }
  }

  /**
   * As {@link BatchNormRelu#forwardInference}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param residual tensor added before the ReLU: {@code s.size()} floats from element offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset element offset of {@code residual}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: {@code s.size()} floats from element offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   */
  public void forwardInferenceRelu(NormShape s, float[] x, int xOffset, float[] residual, int residualOffset, float[] gamma,
                                   float[] beta, float[] movingMean, float[] movingVariance, float epsilon, float[] y, int yOffset) {
    ensureOpen();
    BatchNormRelu.checkForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(RES, residual, residualOffset).array(Y, y, yOffset);
      inferenceRelu(w, gamma, beta, movingMean, movingVariance, epsilon);
    } finally {
      release(w);
    }
  }

  /**
   * {@link #forwardInferenceRelu(NormShape, float[], int, float[], int, float[], float[], float[], float[], float, float[], int)} on segments (residual may be null); offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param residual tensor added before the ReLU: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code residualOffset}, or null for none; may be {@code y} at the same offset
   * @param residualOffset byte offset of {@code residual}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param beta per-channel offset, {@code float[channels]}; null means beta = 0 (Keras {@code center=False})
   * @param movingMean per-channel moving mean, {@code float[channels]}
   * @param movingVariance per-channel moving variance, {@code float[channels]}
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}; may be {@code x} or {@code residual} at the same offset (in place)
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   */
  public void forwardInferenceRelu(NormShape s, MemorySegment x, long xOffset, MemorySegment residual, long residualOffset,
                                   float[] gamma, float[] beta, float[] movingMean, float[] movingVariance, float epsilon,
                                   MemorySegment y, long yOffset) {
    ensureOpen();
    checkReluForward(s, x, xOffset, residual, residualOffset, y, yOffset);
    Kernels.checkInference(s, gamma, beta, movingMean, movingVariance, epsilon);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(RES, residual, residualOffset).segment(Y, y, yOffset);
      inferenceRelu(w, gamma, beta, movingMean, movingVariance, epsilon);
    } finally {
      release(w);
    }
  }

  private void inferenceRelu(Work w, float[] gamma, float[] beta, float[] movingMean, float[] movingVariance, float epsilon) {
    // The fused kernel takes invStd; it is derived in double once per call, as BatchNormRelu does, into the
    // plan's own array (Work.inference): a new array here was a float[channels] every call.
    w.inference(movingMean, movingVariance, epsilon, gamma, beta);
    loop(w, RELU_NORMALIZE);
  }

  /**
   * As {@link BatchNormRelu#backward}.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float in the array, at least 0
   * @param y the forward's output (its sign gives the ReLU mask): {@code s.size()} floats from element offset {@code yOffset}
   * @param yOffset element offset of {@code y}'s first float in the array, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: {@code s.size()} floats from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float in the array, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: {@code s.size()} floats from element offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (or {@code y})
   * @param dxOffset element offset of {@code dx}'s first float in the array, at least 0
   * @param dResidual output: gradient of the loss with respect to {@code residual}: {@code s.size()} floats from element offset {@code dResidualOffset}, or null when not wanted; may be {@code dy}, must not overlap {@code dx}, {@code x} or {@code y}
   * @param dResidualOffset element offset of {@code dResidual}'s first float in the array, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public void backwardRelu(NormShape s, float[] x, int xOffset, float[] y, int yOffset, float[] dy, int dyOffset, float[] gamma,
                           float[] batchMean, float[] invStd, float[] dx, int dxOffset, float[] dResidual, int dResidualOffset,
                           float[] dGamma, float[] dBeta) {
    ensureOpen();
    BatchNormRelu.checkBackwardTensors(s, x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    Work w = take(s);
    try {
      w.array(X, x, xOffset).array(Y, y, yOffset).array(DY, dy, dyOffset).array(DX, dx, dxOffset).array(DRES, dResidual, dResidualOffset);
      backward(w, true, gamma, batchMean, invStd, dGamma, dBeta);
    } finally {
      release(w);
    }
  }

  /**
   * {@link #backwardRelu(NormShape, float[], int, float[], int, float[], int, float[], float[], float[], float[], int, float[], int, float[], float[])} on segments (dResidual may be null); offsets in bytes.
   *
   * @param s the tensors' {@code [outer, channels, inner]} view; not null
   * @param x input tensor: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element in the segment, at least 0
   * @param y the forward's output (its sign gives the ReLU mask): little-endian float32 segment holding {@code s.size()} floats from byte offset {@code yOffset}
   * @param yOffset byte offset of {@code y}'s first element in the segment, at least 0
   * @param dy gradient of the loss with respect to the output {@code y}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element in the segment, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means gamma = 1 (Keras {@code scale=False})
   * @param batchMean per-channel batch mean the forward wrote, {@code float[channels]}
   * @param invStd per-channel {@code 1 / sqrt(variance + epsilon)} (as the training forward wrote it), {@code float[channels]}
   * @param dx output: gradient of the loss with respect to {@code x}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dxOffset}; may be {@code dy} or {@code x} at the same offset (or {@code y})
   * @param dxOffset byte offset of {@code dx}'s first element in the segment, at least 0
   * @param dResidual output: gradient of the loss with respect to {@code residual}: little-endian float32 segment holding {@code s.size()} floats from byte offset {@code dResidualOffset}, or null when not wanted; may be {@code dy}, must not overlap {@code dx}, {@code x} or {@code y}
   * @param dResidualOffset byte offset of {@code dResidual}'s first element in the segment, at least 0
   * @param dGamma output: per-channel gradient with respect to {@code gamma}, {@code float[channels]}, or null when not wanted
   * @param dBeta output: per-channel gradient with respect to {@code beta}, {@code float[channels]}, or null when not wanted
   */
  public void backwardRelu(NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset, MemorySegment dy,
                           long dyOffset, float[] gamma, float[] batchMean, float[] invStd, MemorySegment dx, long dxOffset,
                           MemorySegment dResidual, long dResidualOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    checkReluBackward(s, x, xOffset, y, yOffset, dy, dyOffset, dx, dxOffset, dResidual, dResidualOffset);
    Kernels.checkBackward(s, gamma, batchMean, invStd, dGamma, dBeta);
    Work w = take(s);
    try {
      w.segment(X, x, xOffset).segment(Y, y, yOffset).segment(DY, dy, dyOffset).segment(DX, dx, dxOffset)
          .segment(DRES, dResidual, dResidualOffset);
      backward(w, true, gamma, batchMean, invStd, dGamma, dBeta);
    } finally {
      release(w);
    }
  }

  // ------------------------------------------------------------------ checks

  private static void checkArrays(NormShape s, float[] x, int xOffset, float[] y, int yOffset) {
    Checks.shape(s);
    Checks.tensor("x", x, xOffset, s);
    Checks.tensor("y", y, yOffset, s);
    Checks.noPartialOverlap("y", y, yOffset, "x", x, xOffset, s);
  }

  /**
   * The segment form of {@link BatchNormRelu#checkForward} (BatchNormRelu has no segment entry points):
   * y may be x or residual exactly, not shifted against them.
   */
  private static void checkReluForward(NormShape s, MemorySegment x, long xOffset, MemorySegment residual, long residualOffset,
                                       MemorySegment y, long yOffset) {
    Kernels.checkSegments(s, x, xOffset, y, yOffset);
    if (residual != null) {
      Checks.tensor("residual", residual, residualOffset, s, false);
      Checks.noPartialOverlap("y", y, yOffset, "residual", residual, residualOffset, s);
    }
  }

  /**
   * The segment form of {@link BatchNormRelu#checkBackwardTensors}: dx may be dy, x or y exactly;
   * dResidual may be dy exactly and must not overlap dx, x or y at all (it is stored before x is read,
   * and both gradients are results).
   */
  private static void checkReluBackward(NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset,
                                        MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                        MemorySegment dResidual, long dResidualOffset) {
    Kernels.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    Checks.tensor("y", y, yOffset, s, false);
    Checks.noPartialOverlap("dx", dx, dxOffset, "y", y, yOffset, s);
    if (dResidual != null) {
      Checks.tensor("dResidual", dResidual, dResidualOffset, s, true);
      Checks.noPartialOverlap("dResidual", dResidual, dResidualOffset, "dy", dy, dyOffset, s);
      Checks.disjoint("dResidual", dResidual, dResidualOffset, "dx", dx, dxOffset, s);
      Checks.disjoint("dResidual", dResidual, dResidualOffset, "x", x, xOffset, s);
      Checks.disjoint("dResidual", dResidual, dResidualOffset, "y", y, yOffset, s);
    }
  }

  // ------------------------------------------------------------------ running chunk loops

  private void loop(Work w, int op) {
    loop(w, op, w.plan.count());
  }

  private void loop(Work w, int op, int n) {
    w.op = op;
    // One chunk, or a segment only this thread may touch: the caller alone.
    team.run(w, n, w.confined, w.loop);
  }

  private Work take(NormShape s) {
    for (int i = 0; i < idle.length(); i++) {
      Work w = idle.get(i);
      if (w != null && w.plan.shape().equals(s) && idle.compareAndSet(i, w, null)) return w;
    }
    return new Work(Plan.of(s), this);
  }

  private void release(Work w) {
    w.unbind();
    int home = Math.floorMod(w.plan.shape().hashCode(), idle.length());
    if (!idle.compareAndSet(home, null, w)) idle.set(home, w); // a newer shape takes the slot
  }

  // ------------------------------------------------------------------ partition

  /**
   * Chunk {@code i} is outer slabs {@code [outerFrom, +outerCount)} restricted to channels
   * {@code [channelFrom, +channelCount)}, contiguous at element {@code offset}. Channel-blocked plans
   * (channels-first slabs larger than a chunk) number their channel blocks in {@code block}.
   */
  record Plan(NormShape shape, int count, int[] outerCount, int[] channelFrom, int[] channelCount, long[] offset,
              int[] block, int blocks) {

    /** Depends on the shape only, so the merge order, and so the bits, do not depend on the threads. */
    static Plan of(NormShape s) {
      int C = s.channels(), inner = s.inner(), outer = s.outer();
      long slab = (long) C * inner;
      long target = Math.max(CHUNK_FLOATS, Math.ceilDiv(s.size(), MAX_CHUNKS));
      if (inner > 1 && slab > target) { // channel blocks within each slab
        int perBlock = (int) Math.max(1, target / inner), blocks = Math.ceilDiv(C, perBlock);
        int n = Math.toIntExact((long) outer * blocks);
        Plan p = new Plan(s, n, new int[n], new int[n], new int[n], new long[n], new int[n], blocks);
        for (int o = 0, i = 0; o < outer; o++) {
          for (int b = 0; b < blocks; b++, i++) {
            int c = b * perBlock;
            p.set(i, 1, c, Math.min(perBlock, C - c), o * slab + (long) c * inner, b);
          }
        }
        return p;
      }
      long perChunk = Math.max(1, Math.min(outer, target / slab));
      if (inner == 1 && perChunk < MIN_ROWS) perChunk = Math.min(outer, MIN_ROWS);
      if (inner == 1 && C >= WIDE_CHANNELS) perChunk = Math.max(perChunk, Math.ceilDiv(outer, WIDE_CHUNKS));
      int n = (int) Math.ceilDiv(outer, perChunk);
      Plan p = new Plan(s, n, new int[n], new int[n], new int[n], new long[n], new int[n], 1);
      for (int i = 0; i < n; i++) {
        long o = i * perChunk;
        p.set(i, (int) Math.min(perChunk, outer - o), 0, C, o * slab, 0);
      }
      return p;
    }

    private void set(int i, int outers, int channelStart, int channels, long at, int blockIndex) {
      outerCount[i] = outers;
      channelFrom[i] = channelStart;
      channelCount[i] = channels;
      offset[i] = at;
      block[i] = blockIndex;
    }

    NormShape chunkShape(int i) {
      return new NormShape(outerCount[i], channelCount[i], shape.inner());
    }
  }

  // ------------------------------------------------------------------ one call's chunk state

  /** Tensor slots. */
  private static final int X = 0, Y = 1, DY = 2, DX = 3, RES = 4, DRES = 5;
  /** Chunk operations (MERGE: one range of MERGE_CHANNELS channels per index; NORMALIZE_FOLDED: NORMALIZE with Work#folded). */
  private static final int MOMENTS = 0, NORMALIZE = 1, REDUCE = 2, APPLY = 3, RELU_NORMALIZE = 4, RELU_REDUCE = 5, RELU_APPLY = 6,
      MERGE = 7, NORMALIZE_FOLDED = 8;
  /** Channels per parallel merge range. */
  static final int MERGE_CHANNELS = 256;
  /**
   * Backward one channel at a time, see {@link Work#fusedChannel}: one index per channel (FUSED_BACKWARD),
   * or one channel on all threads, one index per plane (REDUCE_PLANES, then APPLY_PLANES).
   */
  private static final int FUSED_BACKWARD = 9, REDUCE_PLANES = 10, APPLY_PLANES = 11;
  /** The backward of a range of channels in memory order, one index per range ({@link Work#channelRange}). */
  private static final int CHANNEL_RANGES = 12;
  /** The fused backward gives each thread whole channels when there are at least this many per thread (at most 1/8 idle). */
  static final int FUSED_CHANNELS_PER_THREAD = 4;
  /**
   * Planes at least this long (640 B) make a channels-first backward go channel by channel, the same
   * threshold as the kernels' fused backward (one constant, so the threads keep what one
   * thread gains: a channel's planes still in L1/L2 between its reduce and its apply). Shorter planes stall
   * on a miss per plane when one channel's planes (a slab apart) are walked in turn (NCHW 32x7x7x2048 took
   * 2.9x longer that way, one thread).
   */
  static final int FUSED_MIN_INNER = BatchNormSupport.FUSED_MIN_INNER;
  /** Per-channel argument slots. */
  private static final int MEAN = 0, SCALE = 1, GAMMA = 2, BETA = 3, SUM_DY = 4, SUM_DYXHAT = 5;

  /**
   * Everything one call's chunks need, kept per shape and reused so steady calls allocate nothing:
   * the plan, per-chunk partial results, merge accumulators, per-block slices of the per-channel
   * arguments, and the call's tensors. Owned by one call at a time ({@link #take}).
   */
  private static final class Work implements ChunkJob.Body {
    final Plan plan;
    final ParallelBatchNorm owner;
    final float[][] partA, partB;
    /** Per chunk, the rounding error of its float means (see {@link Staging#mergeChunk}). */
    final float[][] partR;
    /** Inference's invStd, derived once per call ({@link #inference}). */
    final float[] invStd;
    final double[] accA, accB;
    /** Per chunk, the count every one of its channels has merged before it (the plan fixes it); and the total per channel. */
    final double[] done;
    final double total;
    /** [slot][block]: the block's part of a per-channel argument (channel-blocked plans only). */
    final float[][][] slices;
    final NormShape[] chunkShapes;
    /** Parallel merge ranges (1: merge on the caller). */
    final int mergeRanges;
    float[] mean, meanResidual, variance, statsInvStd;
    /**
     * Channels-last plans of one channel block: the training forward's folded normalize coefficients
     * {@code [alpha | shift | mean]} ({@link BatchNormSupport#normalizeFolded}), written by the merge
     * ranges when {@link #folding}; null for other plans.
     */
    final float[] folded;
    boolean folding;
    float[] foldGamma, foldBeta;
    /**
     * Channels-first with planes of {@value ParallelBatchNorm#FUSED_MIN_INNER}+ floats and one slab per chunk, so that
     * each chunk's part of a channel is one plane: the backward may go channel by channel.
     */
    final boolean fusable;
    /**
     * Channels-first shapes whose backward the kernel walks in memory order ({@link BatchNormSupport#backwardInMemoryOrder}):
     * the backward goes by channel ranges ({@link #channelRange}) and the chunks' apply forward.
     */
    final boolean memoryOrder;
    /** Float plane sums per partial of the memory-order reduce: the chunks' slabs (1 in channel-blocked plans). */
    final int group;
    /** This call's channel ranges (CHANNEL_RANGES). */
    int ranges;
    /** Pooled one-channel argument arrays for {@link #fusedChannel}: {mean, invStd, gamma, sumDy, sumDyXhat}. */
    final AtomicReferenceArray<float[][]> planeArgs = new AtomicReferenceArray<>(4);
    /** Planes shared by all threads: the channel's arguments (read-only during a loop) and its planes' partial sums. */
    final float[][] channelArgs = new float[5][1];
    float[] planeSums;
    int channel;
    /** With an executor: this call's loop on it; null with owned workers. */
    final ExecutorLoop loop;
    final AtomicReferenceArray<float[]> stages = new AtomicReferenceArray<>(4);

    int op;
    boolean segments, confined;
    final float[][] arrays = new float[6][];
    final int[] arrayOffsets = new int[6];
    final MemorySegment[] segs = new MemorySegment[6];
    final long[] segOffsets = new long[6];
    final float[][] perChannel = new float[6][];
    boolean fromVariance;
    float epsilon;
    long count;

    Work(Plan plan, ParallelBatchNorm owner) {
      this.plan = plan;
      this.owner = owner;
      this.loop = owner.team.newLoop();
      int n = plan.count(), C = plan.shape().channels();
      partA = new float[n][];
      partB = new float[n][];
      partR = new float[n][];
      for (int i = 0; i < n; i++) {
        partA[i] = new float[plan.channelCount()[i]];
        partB[i] = new float[plan.channelCount()[i]];
        partR[i] = new float[plan.channelCount()[i]];
      }
      invStd = new float[C];
      accA = new double[C];
      accB = new double[C];
      done = new double[n];
      double[] merged = new double[plan.blocks()]; // chunks of one channel block hold the same channels
      double inner = plan.shape().inner();
      for (int i = 0; i < n; i++) {
        done[i] = merged[plan.block()[i]];
        merged[plan.block()[i]] += plan.outerCount()[i] * inner;
      }
      total = (double) plan.shape().outer() * inner;
      chunkShapes = new NormShape[n];
      // Only when every chunk has every channel (channels-last and whole-slab chunks).
      mergeRanges = plan.blocks() == 1 && n > 1 ? Math.ceilDiv(C, MERGE_CHANNELS) : 1;
      folded = plan.shape().inner() == 1 && plan.blocks() == 1 && n > 1 ? new float[3 * C] : null;
      boolean oneSlabEach = plan.shape().inner() >= FUSED_MIN_INNER;
      for (int i = 0; i < n && oneSlabEach; i++) oneSlabEach = plan.outerCount()[i] == 1;
      fusable = oneSlabEach;
      NormShape s = plan.shape();
      memoryOrder = s.inner() > 1 && owner.impl.backwardInMemoryOrder(s.outer(), C, s.inner());
      group = plan.outerCount()[0]; // every chunk but the last has the first's slabs; channel blocks have one
      if (plan.blocks() > 1) {
        slices = new float[6][plan.blocks()][];
        for (int i = 0; i < plan.blocks(); i++) { // chunks 0 .. blocks-1 are the blocks of slab 0
          for (float[][] slot : slices) slot[i] = new float[plan.channelCount()[i]];
        }
      } else {
        slices = null;
      }
    }

    Work array(int slot, float[] a, int offset) {
      arrays[slot] = a;
      arrayOffsets[slot] = offset;
      return this;
    }

    /** Binds a segment: its backing float[] when it has one, else the segment path for the whole call. */
    Work segment(int slot, MemorySegment s, long offset) {
      segs[slot] = s;
      segOffsets[slot] = offset;
      if (s == null) return this;
      float[] a = Staging.backingArray(s, offset);
      if (a != null) {
        array(slot, a, Staging.elementOffset(s, offset));
      } else {
        segments = true;
        if (!s.isAccessibleBy(ANOTHER_THREAD)) confined = true;
      }
      return this;
    }

    /** Drops the call's references so an idle Work holds no caller data. */
    void unbind() {
      Arrays.fill(arrays, null);
      Arrays.fill(segs, null);
      Arrays.fill(perChannel, null);
      mean = meanResidual = variance = statsInvStd = null;
      foldWith(false, null, null);
      segments = false;
      confined = false;
    }

    /** Whether the next merge folds the normalize coefficients ({@link #fold}), with this gamma and beta. */
    void foldWith(boolean fold, float[] gamma, float[] beta) {
      folding = fold;
      foldGamma = gamma;
      foldBeta = beta;
    }

    Work perChannel(float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
      setPerChannel(MEAN, mean);
      setPerChannel(SCALE, scale);
      setPerChannel(GAMMA, gamma);
      setPerChannel(BETA, beta);
      this.fromVariance = fromVariance;
      this.epsilon = epsilon;
      return this;
    }

    /**
     * Inference: invStd from the moving variance once per call, as every chunk would otherwise derive
     * it again (a double square root and division per channel: ~9 µs per 64-row chunk of 2048 channels,
     * 18% of NHWC 32x7x7x2048 in 25 chunks). The same float values as the kernels' own derivation.
     */
    Work inference(float[] movingMean, float[] movingVariance, float epsilon, float[] gamma, float[] beta) {
      for (int c = 0; c < invStd.length; c++) invStd[c] = ScalarBatchNormSupport.invStd(movingVariance[c], epsilon);
      return perChannel(movingMean, invStd, false, epsilon, gamma, beta);
    }

    Work sums(float[] gamma, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long count) {
      setPerChannel(MEAN, mean);
      setPerChannel(SCALE, invStd);
      setPerChannel(GAMMA, gamma);
      setPerChannel(SUM_DY, sumDy);
      setPerChannel(SUM_DYXHAT, sumDyXhat);
      this.count = count;
      return this;
    }

    /** The fused backward's arguments: it reads them by channel, so no block slices. */
    void fused(float[] gamma, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long count) {
      perChannel[MEAN] = mean;
      perChannel[SCALE] = invStd;
      perChannel[GAMMA] = gamma;
      perChannel[SUM_DY] = sumDy;
      perChannel[SUM_DYXHAT] = sumDyXhat;
      this.count = count;
    }

    /**
     * Channel c's whole backward: its reduce over every slab, then its apply, so the apply reads the
     * channel's planes of x and dy from cache (L2 or L3) rather than from memory after a sweep over the
     * whole tensor, as the single-threaded kernel does per channel. Each channel runs on one thread here;
     * with few channels per thread the same plane calls run as REDUCE_PLANES and APPLY_PLANES loops, one
     * channel at a time on all threads, with the same merge: the schedule never changes a bit.
     *
     * <p>Same bits as REDUCE, the merge in {@code chunkedReduce} and APPLY, hence for any thread
     * count: in a {@link #fusable} plan channel c's part of chunk i is the one plane (o, c), and the
     * kernels treat planes independently, so the kernel call restricted to that plane gives the float
     * partial sums the chunk's call gives for c; they are added in chunk order (o ascending) in double
     * and rounded once, and the apply of each plane uses the same per-channel arguments.
     */
    void fusedChannel(int c) {
      NormShape s = plan.shape();
      if (owner.impl.backwardChannel(arrays[X], arrayOffsets[X], arrays[DY], arrayOffsets[DY], arrays[DX], arrayOffsets[DX],
          s.outer(), s.channels(), s.inner(), c, perChannel[MEAN], perChannel[SCALE], perChannel[GAMMA], perChannel[SUM_DY],
          perChannel[SUM_DYXHAT], count)) {
        return; // the kernel's one-call form of the loops below: the same sums and dx
      }
      float[][] a = borrowPlaneArgs();
      try {
        setArgs(a, c);
        double accDy = 0, accDyXhat = 0;
        for (int k = 0; k < plan.shape().outer(); k++) {
          reducePlane(k, c, a[0], a[1], a[3], a[4]);
          accDy += a[3][0];
          accDyXhat += a[4][0];
        }
        setSums(a, c, accDy, accDyXhat);
        for (int k = 0; k < plan.shape().outer(); k++) applyPlane(k, c, a);
      } finally {
        releasePlaneArgs(a);
      }
    }

    /**
     * Channels [i * C / ranges, (i + 1) * C / ranges): their reduce over every sample in memory order, then their apply,
     * forward. The sums are the chunked reduce's (each chunk's float sums of its slabs, scaled, added in chunk order in
     * double: {@link BatchNormSupport#backwardReduceChannels}), so the bits of REDUCE, the merge and APPLY for any ranges.
     */
    void channelRange(int i) {
      NormShape s = plan.shape();
      int C = s.channels(), from = (int) ((long) i * C / ranges), to = (int) ((long) (i + 1) * C / ranges);
      BatchNormSupport impl = owner.impl;
      impl.backwardReduceChannels(arrays[X], arrayOffsets[X], arrays[DY], arrayOffsets[DY], s.outer(), C, s.inner(), from, to,
          group, perChannel[MEAN], perChannel[SCALE], perChannel[SUM_DY], perChannel[SUM_DYXHAT], accA, accB);
      impl.backwardApplyChannels(arrays[X], arrayOffsets[X], arrays[DY], arrayOffsets[DY], arrays[DX], arrayOffsets[DX],
          s.outer(), C, s.inner(), from, to, perChannel[MEAN], perChannel[SCALE], perChannel[GAMMA], perChannel[SUM_DY],
          perChannel[SUM_DYXHAT], count);
    }

    /** Channel c's mean, invStd and gamma into one-element arrays (the kernels index channels from 0). */
    private void setArgs(float[][] a, int c) {
      a[0][0] = perChannel[MEAN][c];
      a[1][0] = perChannel[SCALE][c];
      if (perChannel[GAMMA] != null) a[2][0] = perChannel[GAMMA][c];
    }

    /** The channel's merged sums: written out (dBeta, dGamma) and kept for its apply. */
    private void setSums(float[][] a, int c, double accDy, double accDyXhat) {
      a[3][0] = perChannel[SUM_DY][c] = (float) accDy;
      a[4][0] = perChannel[SUM_DYXHAT][c] = (float) accDyXhat;
    }

    /** Before a REDUCE_PLANES loop: channel c's arguments for every plane. */
    void channelArgs(int c) {
      channel = c;
      setArgs(channelArgs, c);
      if (planeSums == null) planeSums = new float[2 * plan.shape().outer()];
    }

    /** After it: the planes' partial sums added in chunk order (o ascending) in double, as in fusedChannel. */
    void channelSums(int c) {
      int outer = plan.shape().outer();
      double accDy = 0, accDyXhat = 0;
      for (int k = 0; k < outer; k++) {
        accDy += planeSums[k];
        accDyXhat += planeSums[outer + k];
      }
      setSums(channelArgs, c, accDy, accDyXhat);
    }

    /** Plane (k, c)'s float partial sums into sumDy1[0], sumDyXhat1[0]: the kernel call on that plane alone. */
    private void reducePlane(int k, int c, float[] mean1, float[] invStd1, float[] sumDy1, float[] sumDyXhat1) {
      NormShape s = plan.shape();
      int e = (int) (((long) k * s.channels() + c) * s.inner());
      owner.impl.backwardReduce(arrays[X], arrayOffsets[X] + e, arrays[DY], arrayOffsets[DY] + e, 1, 1, s.inner(), mean1, invStd1,
          sumDy1, sumDyXhat1);
    }

    /** Plane (k, c)'s dx, with the channel's arguments and merged sums in {@code a}. */
    private void applyPlane(int k, int c, float[][] a) {
      NormShape s = plan.shape();
      int e = (int) (((long) k * s.channels() + c) * s.inner());
      owner.impl.backwardApply(arrays[X], arrayOffsets[X] + e, arrays[DY], arrayOffsets[DY] + e, arrays[DX], arrayOffsets[DX] + e,
          1, 1, s.inner(), a[0], a[1], perChannel[GAMMA] == null ? null : a[2], a[3], a[4], count);
    }

    /** One plane of the shared channel's reduce (REDUCE_PLANES). */
    private void reduceSharedPlane(int k) {
      float[][] b = borrowPlaneArgs();
      try {
        reducePlane(k, channel, channelArgs[0], channelArgs[1], b[3], b[4]);
        planeSums[k] = b[3][0];
        planeSums[plan.shape().outer() + k] = b[4][0];
      } finally {
        releasePlaneArgs(b);
      }
    }

    private float[][] borrowPlaneArgs() {
      for (int k = 0; k < planeArgs.length(); k++) {
        float[][] a = planeArgs.getAndSet(k, null);
        if (a != null) return a;
      }
      return new float[5][1];
    }

    private void releasePlaneArgs(float[][] a) {
      for (int k = 0; k < planeArgs.length(); k++) if (planeArgs.compareAndSet(k, null, a)) return;
    }

    /** Stores a per-channel argument and, for channel-blocked plans, copies its block slices once per call. */
    private void setPerChannel(int slot, float[] a) {
      perChannel[slot] = a;
      if (slices == null || a == null) return;
      for (int b = 0; b < plan.blocks(); b++) {
        System.arraycopy(a, plan.channelFrom()[b], slices[slot][b], 0, slices[slot][b].length);
      }
    }

    /** The chunk's part of a per-channel argument (the array itself when the chunk has every channel). */
    private float[] pc(int slot, int i) {
      float[] a = perChannel[slot];
      return slices == null || a == null ? a : slices[slot][plan.block()[i]];
    }

    /**
     * Merges every chunk's partial moments, in chunk order, into channels [from, to), then writes them
     * out (and invStd, as {@link Kernels#finishStatistics} derives it, when the call asked for it).
     * Every channel has merged the same count before a given chunk, so Chan's weights are per chunk.
     */
    void merge(int from, int to) {
      if (plan.blocks() != 1 || !mergeFinite(from, to)) mergeBranching(from, to);
      if (folding) fold(from, to);
    }

    /**
     * Channels [from, to) of {@link #folded}, {@code [alpha | shift | mean]} from the merged mean and invStd, as the
     * kernel's normalize folds them ({@link Coefficients#folded}: the same expressions, so the same bits). Run by the
     * merge range that has just written these channels, while they are in its cache, instead of by every normalize
     * chunk for all channels.
     */
    private void fold(int from, int to) {
      Coefficients.folded(folded, plan.shape().channels(), from, to, mean, statsInvStd, false, 0f, foldGamma, foldBeta);
    }

    /** The merge for chunks of some channels only, or a non-finite mean (the range is redone from zero). */
    private void mergeBranching(int from, int to) {
      Arrays.fill(accA, from, to, 0);
      Arrays.fill(accB, from, to, 0);
      double inner = plan.shape().inner();
      for (int i = 0; i < plan.count(); i++) {
        int chunkFrom = plan.channelFrom()[i], lo = Math.max(from, chunkFrom), hi = Math.min(to, chunkFrom + plan.channelCount()[i]);
        if (lo < hi) {
          Staging.mergeChunk(done[i], accA, accB, lo, hi, chunkFrom, partA[i], partR[i], partB[i], plan.outerCount()[i] * inner);
        }
      }
      for (int c = from; c < to; c++) {
        mean[c] = (float) accA[c];
        if (meanResidual != null) meanResidual[c] = Staging.meanResidual(accA[c], mean[c]);
        float v = variance[c] = (float) (accB[c] / total);
        if (statsInvStd != null) statsInvStd[c] = Kernels.statisticsInvStd(v, epsilon);
      }
    }

    /**
     * {@link #merge}'s common case, every chunk holding every channel and every chunk mean finite, in loops
     * C2 vectorizes: Chan's merge ({@link Staging#mergeFiniteChunk}), then the outputs and invStd as
     * {@link Kernels#finishStatistics} derives them, from the same expressions as the branching merge, so
     * the same bits. Returns false when a merged mean is not finite (or, finite in double, overflows the
     * float mean), having written outputs that {@link #mergeBranching} then rewrites: for a finite running
     * mean it computes the same expressions, so such a range gets the same bits either way.
     *
     * <p>Few passes over the range: a 256-channel range took 1.2-1.3 µs alone and 2.4-4.6 µs in a two-thread
     * call, where half its partials come from the other core's cache (eleventh session's probe and trace). So
     * there is no clearing pass ({@link #firstChunk}), the finiteness check reads the float means (an OR C2
     * vectorizes, half the bytes of the double accumulators' add chain); invStd comes from
     * {@link Kernels#finishStatistics(float, float[], float[], int, int)}, the facade's own loops.
     */
    private boolean mergeFinite(int from, int to) {
      double inner = plan.shape().inner();
      double[] a = accA, b = accB;
      firstChunk(a, b, from, to, partA[0], partR[0], partB[0], done[0], plan.outerCount()[0] * inner);
      for (int i = 1; i < plan.count(); i++) {
        Staging.mergeFiniteChunk(done[i], a, b, from, to, partA[i], partR[i], partB[i], plan.outerCount()[i] * inner);
      }
      // Locals, one output per loop: loops C2 vectorizes (float to double and back, double divide and square root).
      float[] m = mean, res = meanResidual, v = variance, inv = statsInvStd;
      double n = total;
      for (int c = from; c < to; c++) m[c] = (float) a[c];
      if (!ScalarBatchNormSupport.allFinite(m, from, to)) return false;
      if (res != null) {
        for (int c = from; c < to; c++) res[c] = (float) (a[c] - m[c]); // Staging.meanResidual of a finite mean
      }
      for (int c = from; c < to; c++) v[c] = (float) (b[c] / n);
      if (inv != null) Kernels.finishStatistics(epsilon, v, inv, from, to);
      return true;
    }

    /**
     * {@link Staging#mergeFiniteChunk} of the first chunk into running sums that are zero: the same
     * expressions with literal zeros (so the same bits, signed zeros included), without clearing the
     * accumulators first or reading them.
     */
    private static void firstChunk(double[] runMean, double[] runM2, int from, int to, float[] chunkMean, float[] chunkMeanResidual,
                                   float[] chunkVariance, double done, double n) {
      double total = done + n, wBlock = n / total, wCross = done * n / total;
      for (int c = from; c < to; c++) {
        double delta = ((double) chunkMean[c] + chunkMeanResidual[c]) - 0.0;
        runMean[c] = 0.0 + delta * wBlock;
        runM2[c] = 0.0 + ((double) chunkVariance[c] * n + delta * delta * wCross);
      }
    }

    @Override
    public void run(int i) {
      if (op == MERGE) {
        merge(i * MERGE_CHANNELS, Math.min(plan.shape().channels(), (i + 1) * MERGE_CHANNELS));
        return;
      }
      if (op >= FUSED_BACKWARD) {
        switch (op) {
          case FUSED_BACKWARD -> fusedChannel(i);
          case REDUCE_PLANES -> reduceSharedPlane(i);
          case CHANNEL_RANGES -> channelRange(i);
          default -> applyPlane(i, channel, channelArgs);
        }
        return;
      }
      if (segments) {
        runSegments(i);
        return;
      }
      int oc = plan.outerCount()[i], cc = plan.channelCount()[i], inner = plan.shape().inner();
      int e = (int) plan.offset()[i];
      float[][] t = arrays;
      int[] o = arrayOffsets;
      BatchNormSupport impl = owner.impl;
      switch (op) {
        case MOMENTS -> impl.moments(t[X], o[X] + e, oc, cc, inner, partA[i], partR[i], partB[i]);
        case NORMALIZE -> impl.normalize(t[X], o[X] + e, t[Y], o[Y] + e, oc, cc, inner, pc(MEAN, i), pc(SCALE, i), fromVariance,
            epsilon, pc(GAMMA, i), pc(BETA, i));
        case NORMALIZE_FOLDED -> impl.normalizeFolded(t[X], o[X] + e, t[Y], o[Y] + e, oc, cc, folded);
        case REDUCE -> impl.backwardReduceChunk(t[X], o[X] + e, t[DY], o[DY] + e, oc, cc, inner, pc(MEAN, i), pc(SCALE, i),
            partA[i], partB[i], plan.shape().size());
        case APPLY -> {
          if (memoryOrder) { // forward (backwardApply walks planes of FUSED_MIN_INNER+ floats from the end back): the same bits
            impl.backwardApplyChannels(t[X], o[X] + e, t[DY], o[DY] + e, t[DX], o[DX] + e, oc, cc, inner, 0, cc, pc(MEAN, i),
                pc(SCALE, i), pc(GAMMA, i), pc(SUM_DY, i), pc(SUM_DYXHAT, i), count);
          } else {
            impl.backwardApply(t[X], o[X] + e, t[DY], o[DY] + e, t[DX], o[DX] + e, oc, cc, inner, pc(MEAN, i),
                pc(SCALE, i), pc(GAMMA, i), pc(SUM_DY, i), pc(SUM_DYXHAT, i), count);
          }
        }
        case RELU_NORMALIZE -> owner.fused.normalizeRelu(t[X], o[X] + e, t[RES], o[RES] + e, t[Y], o[Y] + e, oc, cc, inner,
            pc(MEAN, i), pc(SCALE, i), pc(GAMMA, i), pc(BETA, i));
        case RELU_REDUCE -> owner.fused.backwardReduceReluChunk(t[X], o[X] + e, t[Y], o[Y] + e, t[DY], o[DY] + e, oc, cc, inner,
            pc(MEAN, i), pc(SCALE, i), partA[i], partB[i], plan.shape().size());
        case RELU_APPLY -> owner.fused.backwardApplyRelu(t[X], o[X] + e, t[Y], o[Y] + e, t[DY], o[DY] + e, t[DX], o[DX] + e,
            t[DRES], o[DRES] + e, oc, cc, inner, pc(MEAN, i), pc(SCALE, i), pc(GAMMA, i), pc(SUM_DY, i), pc(SUM_DYXHAT, i), count);
        default -> throw new AssertionError(op);
      }
    }

    /** A chunk of a call with native (or otherwise not float[]-backed) segments: the library's segment path per chunk. */
    private void runSegments(int i) {
      NormShape cs = chunkShapes[i];
      if (cs == null) cs = chunkShapes[i] = plan.chunkShape(i); // benign race: equal records
      long b = plan.offset()[i] * Float.BYTES;
      MemorySegment[] t = segs;
      long[] o = segOffsets;
      Kernels k = owner.kernels;
      switch (op) {
        case MOMENTS -> k.momentsSegments(cs, t[X], o[X] + b, partA[i], partR[i], partB[i]);
        case NORMALIZE -> k.normalizeSegments(cs, t[X], o[X] + b, t[Y], o[Y] + b, pc(MEAN, i), pc(SCALE, i), fromVariance,
            epsilon, pc(GAMMA, i), pc(BETA, i));
        case REDUCE -> k.reduceSegments(cs, t[X], o[X] + b, t[DY], o[DY] + b, pc(MEAN, i), pc(SCALE, i), partA[i], partB[i],
            plan.shape().size());
        case APPLY -> k.applySegments(cs, t[X], o[X] + b, t[DY], o[DY] + b, pc(GAMMA, i), pc(MEAN, i), pc(SCALE, i),
            pc(SUM_DY, i), pc(SUM_DYXHAT, i), count, t[DX], o[DX] + b);
        default -> fusedStaged(i, cs, b);
      }
    }

    /**
     * The fused ReLU kernels take arrays only, and BatchNormRelu has no segment path to call: stage
     * the chunk's tensors into one pooled array (slots of the chunk's size), compute there, copy out.
     */
    private void fusedStaged(int i, NormShape cs, long b) {
      int n = (int) cs.size(), oc = cs.outer(), cc = cs.channels(), inner = cs.inner();
      float[] st = borrowStage(5 * n);
      try {
        MemorySegment[] t = segs;
        long[] o = segOffsets;
        FusedReluSupport f = owner.fused;
        switch (op) {
          case RELU_NORMALIZE -> {
            copyIn(t[X], o[X] + b, st, 0, n);
            boolean residual = t[RES] != null;
            if (residual) copyIn(t[RES], o[RES] + b, st, n, n);
            f.normalizeRelu(st, 0, residual ? st : null, n, st, 2 * n, oc, cc, inner, pc(MEAN, i), pc(SCALE, i), pc(GAMMA, i),
                pc(BETA, i));
            copyOut(st, 2 * n, t[Y], o[Y] + b, n);
          }
          case RELU_REDUCE -> {
            copyIn(t[X], o[X] + b, st, 0, n);
            copyIn(t[Y], o[Y] + b, st, n, n);
            copyIn(t[DY], o[DY] + b, st, 2 * n, n);
            f.backwardReduceRelu(st, 0, st, n, st, 2 * n, oc, cc, inner, pc(MEAN, i), pc(SCALE, i), partA[i], partB[i]);
          }
          case RELU_APPLY -> {
            copyIn(t[X], o[X] + b, st, 0, n);
            copyIn(t[Y], o[Y] + b, st, n, n);
            copyIn(t[DY], o[DY] + b, st, 2 * n, n);
            boolean dResidual = t[DRES] != null;
            f.backwardApplyRelu(st, 0, st, n, st, 2 * n, st, 3 * n, dResidual ? st : null, 4 * n, oc, cc, inner, pc(MEAN, i),
                pc(SCALE, i), pc(GAMMA, i), pc(SUM_DY, i), pc(SUM_DYXHAT, i), count);
            copyOut(st, 3 * n, t[DX], o[DX] + b, n);
            if (dResidual) copyOut(st, 4 * n, t[DRES], o[DRES] + b, n);
          }
          default -> throw new AssertionError(op);
        }
      } finally {
        releaseStage(st);
      }
    }

    private static void copyIn(MemorySegment src, long byteOffset, float[] dst, int at, int floats) {
      MemorySegment.copy(src, Staging.FLOAT_LE, byteOffset, dst, at, floats);
    }

    private static void copyOut(float[] src, int at, MemorySegment dst, long byteOffset, int floats) {
      MemorySegment.copy(src, at, dst, Staging.FLOAT_LE, byteOffset, floats);
    }

    private float[] borrowStage(int floats) {
      for (int k = 0; k < stages.length(); k++) {
        float[] a = stages.getAndSet(k, null);
        if (a != null && a.length >= floats) return a;
      }
      return new float[floats];
    }

    private void releaseStage(float[] a) {
      for (int k = 0; k < stages.length(); k++) if (stages.compareAndSet(k, null, a)) return;
    }
  }
}
