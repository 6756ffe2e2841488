package dev.vecnorm;

import dev.vecnorm.internal.ChunkJob;
import dev.vecnorm.internal.ExecutorLoop;
import dev.vecnorm.internal.GroupNormRows;
import dev.vecnorm.internal.GroupNormSupport;
import dev.vecnorm.internal.LayerNormSupport;
import dev.vecnorm.internal.ThreadTeam;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@link LayerNorm}, {@link RmsNorm} and {@link GroupNorm} on several threads, over {@code float[]} or
 * {@link MemorySegment} tensors, with results that are bitwise identical for any thread count.
 *
 * <p><b>Partition.</b> Rows (layer and RMS norm) and (sample, group) pairs (group norm) are normalized
 * independently, so the tensor is cut into chunks of {@code 512 KiB} and up (at most 256 chunks), chosen
 * from the shape alone, as {@link ParallelBatchNorm} does: whole rows, whole samples, or, when a sample
 * is larger than a chunk, parts of one sample. Channels-first, a part is a block of consecutive groups
 * (contiguous there). Channels-last groups interleave in every pixel row, so a batch of one sample
 * splits into ranges of pixel rows, run in two passes: each range sums per channel, the ranges'
 * sums are merged per group in double in range order ({@code GroupNormRows}), then each range writes.
 * A channels-last group norm forward over whole samples takes runs of up to 4 consecutive samples a chunk
 * (at most an equal share per thread) even where a chunk of 512 KiB holds fewer: its kernel pipelines
 * from one sample to the next within a call, which every chunk boundary breaks. A channels-first group norm
 * backward over whole samples takes runs of samples with at least 64 positions per channel (keeping 8 chunks
 * or more): its kernel zeroes and lane-sums one dGamma and one dBeta vector per channel on every call, which
 * at NCHW 32x7x7x2048 is ~20 us a call against ~65 us of work per sample (16 lanes). Forward chunks of whole
 * rows, samples or group blocks run the single-threaded kernels on their rows, so forward outputs and statistics equal the facades' bit for bit; row ranges give other bits than the
 * facade (another summation order: within 2e-6 relative for the statistics and 1e-5 for y and dx in
 * {@code ParallelNormsTest}), the same for any thread count. Backward's {@code dGamma}/{@code dBeta} are sums over rows: each chunk
 * sums its own rows into its own partial, and the partials are added in chunk order, in double, so the
 * bits do not depend on the thread count; they equal the facades' to float rounding (another summation
 * order), and bit for bit when the tensor is one chunk.
 *
 * <p><b>Threads.</b> {@link #ParallelNorms(int)} owns {@code threads - 1} workers of the same kind as
 * {@link ParallelBatchNorm}'s (spin about 100 µs after a loop, then park); the calling thread runs chunks
 * too. {@link #ParallelNorms(ExecutorService)} uses the caller's executor instead, as
 * {@link ParallelBatchNorm#ParallelBatchNorm(ExecutorService)} does: helpers are submitted and the caller
 * runs chunks itself, so calls from the executor's own tasks cannot deadlock and a rejected helper only
 * means the caller does its chunks. Tensors of one chunk (below 1 MiB), and native segments confined to
 * the calling thread, run on the calling thread. One instance may be used by several threads at once: a call that finds the workers busy
 * runs on its own thread, with the same bits. After {@link #close()} every operation throws
 * {@link IllegalStateException}.
 *
 * <p><b>Arguments</b> are checked by the facades' own checks, before anything is written. Segments backed
 * by a {@code float[]} run on the array; group norm on plain native segments runs on the native bodies
 * (the facade's, unstaged) except where they stage (see {@code PanamaNativeGroupNorm}); other segments are staged per chunk as the facades stage them.
 */
public final class ParallelNorms implements AutoCloseable {

  /** Never started: a segment it may access is not confined to one thread. */
  private static final Thread ANOTHER_THREAD = Thread.ofPlatform().unstarted(() -> {});

  /** Chunk operations. */
  private static final int LN_FORWARD = 0, LN_BACKWARD = 1, RMS_FORWARD = 2, RMS_BACKWARD = 3, GN_FORWARD = 4, GN_BACKWARD = 5;

  private final LayerNormSupport layer;
  private final GroupNormSupport group;
  private final ThreadTeam team;
  /** One call's chunk state, reused by the next call (steady calls on arrays allocate nothing). */
  private final AtomicReference<Work> idle = new AtomicReference<>();

  /**
   * {@code threads} threads in all (1 to 32): the caller and {@code threads - 1} owned daemon workers
   * ({@link #close()} stops them).
   *
   * @param threads threads per call, the caller included: 1 to 32
   */
  public ParallelNorms(int threads) {
    this(VectorizationProvider.layerNorm(), VectorizationProvider.groupNorm(), threads);
  }

  ParallelNorms(LayerNormSupport layer, GroupNormSupport group, int threads) {
    this.team = ThreadTeam.owned(threads, "ParallelNorms", "vecnorm-norms-worker");
    this.layer = layer;
    this.group = group;
  }

  /**
   * Runs on the caller's executor (not shut down by {@link #close()}), with up to {@code availableProcessors()} threads.
   *
   * @param executor runs the helper chunks; not null
   */
  public ParallelNorms(ExecutorService executor) {
    this.layer = VectorizationProvider.layerNorm();
    this.group = VectorizationProvider.groupNorm();
    this.team = ThreadTeam.on(executor, "ParallelNorms");
  }

  /**
   * A pool of {@code availableProcessors()} threads.
   *
   * @return a new instance owning its threads; close it when done
   */
  public static ParallelNorms withAvailableProcessors() {
    return new ParallelNorms(ThreadTeam.availableThreads());
  }

  /**
   * Parallelism of this instance.
   *
   * @return the number of threads chunks run on, the caller included
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

  // ------------------------------------------------------------------ LayerNorm

  /**
   * As {@link LayerNorm#forward(int, int, float[], int, float[], float[], float, float[], int, float[], float[])}:
   * training forward with {@code mean} and {@code invStd}, inference forward with both null.
   *
   * @param rows number of rows normalized independently, at least 1
   * @param features floats per row, at least 1
   * @param x input tensor: {@code rows * features} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means 1
   * @param beta per-feature offset, {@code float[features]}; null means 0
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor, may be {@code x} at the same offset
   * @param yOffset element offset of {@code y}'s first float, at least 0
   * @param mean output, may be null: per-row mean, {@code float[rows]}
   * @param invStd output, may be null: per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}
   */
  public void layerNormForward(int rows, int features, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon,
                               float[] y, int yOffset, float[] mean, float[] invStd) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkArrays(s, "x", x, xOffset, "y", y, yOffset);
    LayerNorm.checkForward(s, gamma, beta, epsilon, mean, invStd);
    Work w = take().rows(LN_FORWARD, rows, features).arrays(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, beta, epsilon, mean, invStd, null, null));
  }

  /**
   * As {@link LayerNorm#forward(int, int, MemorySegment, long, float[], float[], float, MemorySegment, long, float[], float[])}; offsets in bytes.
   *
   * @param rows number of rows normalized independently, at least 1
   * @param features floats per row, at least 1
   * @param x input tensor: little-endian float32 segment, {@code rows * features} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means 1
   * @param beta per-feature offset, {@code float[features]}; null means 0
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor segment, may be {@code x} at the same offset
   * @param yOffset byte offset of {@code y}'s first element, at least 0
   * @param mean output, may be null: per-row mean, {@code float[rows]}
   * @param invStd output, may be null: per-row {@code 1 / sqrt(var + epsilon)}, {@code float[rows]}
   */
  public void layerNormForward(int rows, int features, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon,
                               MemorySegment y, long yOffset, float[] mean, float[] invStd) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkSegments(s, "x", x, xOffset, "y", y, yOffset);
    LayerNorm.checkForward(s, gamma, beta, epsilon, mean, invStd);
    Work w = take().rows(LN_FORWARD, rows, features).segments(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, beta, epsilon, mean, invStd, null, null));
  }

  /**
   * As {@link LayerNorm#backward(int, int, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])}.
   *
   * @param rows number of rows, at least 1
   * @param features floats per row, at least 1
   * @param x the forward's input tensor from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param dy gradient with respect to {@code y}, from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means 1
   * @param mean the forward's per-row mean, {@code float[rows]}; not null
   * @param invStd the forward's per-row invStd, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float, at least 0
   * @param dGamma output, may be null: {@code Σ_rows dy * xhat}, {@code float[features]}, overwritten
   * @param dBeta output, may be null: {@code Σ_rows dy}, {@code float[features]}, overwritten
   */
  public void layerNormBackward(int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma,
                                float[] mean, float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, mean, "mean", invStd, "invStd", dGamma, dBeta);
    Work w = take().rows(LN_BACKWARD, rows, features).arrays(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, mean, invStd, dGamma, dBeta));
  }

  /**
   * As {@link LayerNorm#backward(int, int, MemorySegment, long, MemorySegment, long, float[], float[], float[], MemorySegment, long, float[], float[])}; offsets in bytes.
   *
   * @param rows number of rows, at least 1
   * @param features floats per row, at least 1
   * @param x the forward's input tensor segment from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param dy gradient with respect to {@code y}, segment from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means 1
   * @param mean the forward's per-row mean, {@code float[rows]}; not null
   * @param invStd the forward's per-row invStd, {@code float[rows]}; not null
   * @param dx output segment: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element, at least 0
   * @param dGamma output, may be null: {@code Σ_rows dy * xhat}, {@code float[features]}, overwritten
   * @param dBeta output, may be null: {@code Σ_rows dy}, {@code float[features]}, overwritten
   */
  public void layerNormBackward(int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                                float[] mean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, mean, "mean", invStd, "invStd", dGamma, dBeta);
    Work w = take().rows(LN_BACKWARD, rows, features).segments(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, mean, invStd, dGamma, dBeta));
  }

  // ------------------------------------------------------------------ RmsNorm

  /**
   * As {@link RmsNorm#forward(int, int, float[], int, float[], float, float[], int, float[])}.
   *
   * @param rows number of rows normalized independently, at least 1
   * @param features floats per row, at least 1
   * @param x input tensor from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means 1
   * @param epsilon added to {@code mean(x^2)} before the square root; finite and greater than 0
   * @param y output tensor, may be {@code x} at the same offset
   * @param yOffset element offset of {@code y}'s first float, at least 0
   * @param invRms output, may be null: per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}
   */
  public void rmsNormForward(int rows, int features, float[] x, int xOffset, float[] gamma, float epsilon, float[] y, int yOffset,
                             float[] invRms) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkArrays(s, "x", x, xOffset, "y", y, yOffset);
    RmsNorm.checkForward(s, gamma, epsilon, invRms);
    Work w = take().rows(RMS_FORWARD, rows, features).arrays(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, null, epsilon, null, invRms, null, null));
  }

  /**
   * As {@link RmsNorm#forward(int, int, MemorySegment, long, float[], float, MemorySegment, long, float[])}; offsets in bytes.
   *
   * @param rows number of rows normalized independently, at least 1
   * @param features floats per row, at least 1
   * @param x input tensor segment from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param gamma per-feature scale, {@code float[features]}; null means 1
   * @param epsilon added to {@code mean(x^2)} before the square root; finite and greater than 0
   * @param y output tensor segment, may be {@code x} at the same offset
   * @param yOffset byte offset of {@code y}'s first element, at least 0
   * @param invRms output, may be null: per-row {@code 1 / sqrt(mean(x^2) + epsilon)}, {@code float[rows]}
   */
  public void rmsNormForward(int rows, int features, MemorySegment x, long xOffset, float[] gamma, float epsilon, MemorySegment y,
                             long yOffset, float[] invRms) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkSegments(s, "x", x, xOffset, "y", y, yOffset);
    RmsNorm.checkForward(s, gamma, epsilon, invRms);
    Work w = take().rows(RMS_FORWARD, rows, features).segments(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, null, epsilon, null, invRms, null, null));
  }

  /**
   * As {@link RmsNorm#backward(int, int, float[], int, float[], int, float[], float[], float[], int, float[])}.
   *
   * @param rows number of rows, at least 1
   * @param features floats per row, at least 1
   * @param x the forward's input tensor from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param dy gradient with respect to {@code y}, from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means 1
   * @param invRms the forward's per-row invRms, {@code float[rows]}; not null
   * @param dx output: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float, at least 0
   * @param dGamma output, may be null: {@code Σ_rows dy * x * invRms}, {@code float[features]}, overwritten
   */
  public void rmsNormBackward(int rows, int features, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] invRms,
                              float[] dx, int dxOffset, float[] dGamma) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardArrays(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, null, null, invRms, "invRms", dGamma, null);
    Work w = take().rows(RMS_BACKWARD, rows, features).arrays(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, null, invRms, dGamma, null));
  }

  /**
   * As {@link RmsNorm#backward(int, int, MemorySegment, long, MemorySegment, long, float[], float[], MemorySegment, long, float[])}; offsets in bytes.
   *
   * @param rows number of rows, at least 1
   * @param features floats per row, at least 1
   * @param x the forward's input tensor segment from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param dy gradient with respect to {@code y}, segment from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element, at least 0
   * @param gamma per-feature scale used in the forward, {@code float[features]}; null means 1
   * @param invRms the forward's per-row invRms, {@code float[rows]}; not null
   * @param dx output segment: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element, at least 0
   * @param dGamma output, may be null: {@code Σ_rows dy * x * invRms}, {@code float[features]}, overwritten
   */
  public void rmsNormBackward(int rows, int features, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                              float[] invRms, MemorySegment dx, long dxOffset, float[] dGamma) {
    ensureOpen();
    NormShape s = LayerNorm.shape(rows, features);
    LayerNorm.checkBackwardSegments(s, x, xOffset, dy, dyOffset, dx, dxOffset);
    LayerNorm.checkBackward(s, gamma, null, null, invRms, "invRms", dGamma, null);
    Work w = take().rows(RMS_BACKWARD, rows, features).segments(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, null, invRms, dGamma, null));
  }

  // ------------------------------------------------------------------ GroupNorm

  /**
   * As {@link GroupNorm#forward(GroupShape, float[], int, float[], float[], float, float[], int, float[], float[])}.
   *
   * @param s the shape: batch, channels, spatial size, groups and layout; not null
   * @param x input tensor: {@code s.size()} floats from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means 1
   * @param beta per-channel offset, {@code float[channels]}; null means 0
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor, may be {@code x} at the same offset
   * @param yOffset element offset of {@code y}'s first float, at least 0
   * @param mean output, may be null: per-(sample, group) mean, {@code float[s.statistics()]}
   * @param invStd output, may be null: per-(sample, group) invStd, {@code float[s.statistics()]}
   */
  public void groupNormForward(GroupShape s, float[] x, int xOffset, float[] gamma, float[] beta, float epsilon, float[] y, int yOffset,
                               float[] mean, float[] invStd) {
    ensureOpen();
    NormShape t = GroupNorm.tensorShape(s);
    LayerNorm.checkArrays(t, "x", x, xOffset, "y", y, yOffset);
    GroupNorm.checkForward(s, gamma, beta, epsilon, mean, invStd);
    GroupNorm.checkNotTensor(mean, "mean", invStd, "invStd", x, "x", y, "y");
    Work w = take().samples(GN_FORWARD, s, team.threads()).arrays(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, beta, epsilon, mean, invStd, null, null));
  }

  /**
   * As {@link GroupNorm#forward(GroupShape, MemorySegment, long, float[], float[], float, MemorySegment, long, float[], float[])}; offsets in bytes.
   *
   * @param s the shape: batch, channels, spatial size, groups and layout; not null
   * @param x input tensor segment: {@code s.size()} floats from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param gamma per-channel scale, {@code float[channels]}; null means 1
   * @param beta per-channel offset, {@code float[channels]}; null means 0
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param y output tensor segment, may be {@code x} at the same offset
   * @param yOffset byte offset of {@code y}'s first element, at least 0
   * @param mean output, may be null: per-(sample, group) mean, {@code float[s.statistics()]}
   * @param invStd output, may be null: per-(sample, group) invStd, {@code float[s.statistics()]}
   */
  public void groupNormForward(GroupShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta, float epsilon, MemorySegment y,
                               long yOffset, float[] mean, float[] invStd) {
    ensureOpen();
    NormShape t = GroupNorm.tensorShape(s);
    LayerNorm.checkSegments(t, "x", x, xOffset, "y", y, yOffset);
    GroupNorm.checkForward(s, gamma, beta, epsilon, mean, invStd);
    float[] xa = Staging.backingArray(x, xOffset), ya = Staging.backingArray(y, yOffset);
    if (xa != null && ya != null) {
      GroupNorm.checkNotTensor(mean, "mean", invStd, "invStd", xa, "x", ya, "y");
    } else {
      GroupNorm.sampleFloats(s); // staging copies whole samples into a float[]
    }
    Work w = take().samples(GN_FORWARD, s, team.threads()).segments(x, xOffset, null, 0, y, yOffset);
    run(w.params(gamma, beta, epsilon, mean, invStd, null, null));
  }

  /**
   * As {@link GroupNorm#backward(GroupShape, float[], int, float[], int, float[], float[], float[], float[], int, float[], float[])}.
   *
   * @param s the shape used in the forward; not null
   * @param x the forward's input tensor from element offset {@code xOffset}
   * @param xOffset element offset of {@code x}'s first float, at least 0
   * @param dy gradient with respect to {@code y}, from element offset {@code dyOffset}
   * @param dyOffset element offset of {@code dy}'s first float, at least 0
   * @param gamma per-channel scale used in the forward, {@code float[channels]}; null means 1
   * @param mean the forward's per-(sample, group) mean, {@code float[s.statistics()]}; not null
   * @param invStd the forward's per-(sample, group) invStd, {@code float[s.statistics()]}; not null
   * @param dx output: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset element offset of {@code dx}'s first float, at least 0
   * @param dGamma output, may be null: per-channel {@code Σ dy * xhat}, {@code float[channels]}, overwritten
   * @param dBeta output, may be null: per-channel {@code Σ dy}, {@code float[channels]}, overwritten
   */
  public void groupNormBackward(GroupShape s, float[] x, int xOffset, float[] dy, int dyOffset, float[] gamma, float[] mean,
                                float[] invStd, float[] dx, int dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    NormShape t = GroupNorm.tensorShape(s);
    LayerNorm.checkBackwardArrays(t, x, xOffset, dy, dyOffset, dx, dxOffset);
    GroupNorm.checkBackward(s, gamma, mean, invStd, dGamma, dBeta);
    GroupNorm.checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", x, "x", dy, "dy");
    GroupNorm.checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", dx, "dx", null, null);
    Work w = take().samples(GN_BACKWARD, s, team.threads()).arrays(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, mean, invStd, dGamma, dBeta));
  }

  /**
   * As {@link GroupNorm#backward(GroupShape, MemorySegment, long, MemorySegment, long, float[], float[], float[], MemorySegment, long, float[], float[])}; offsets in bytes.
   *
   * @param s the shape used in the forward; not null
   * @param x the forward's input tensor segment from byte offset {@code xOffset}
   * @param xOffset byte offset of {@code x}'s first element, at least 0
   * @param dy gradient with respect to {@code y}, segment from byte offset {@code dyOffset}
   * @param dyOffset byte offset of {@code dy}'s first element, at least 0
   * @param gamma per-channel scale used in the forward, {@code float[channels]}; null means 1
   * @param mean the forward's per-(sample, group) mean, {@code float[s.statistics()]}; not null
   * @param invStd the forward's per-(sample, group) invStd, {@code float[s.statistics()]}; not null
   * @param dx output segment: gradient with respect to {@code x}; may be {@code dy} or {@code x} at the same offset
   * @param dxOffset byte offset of {@code dx}'s first element, at least 0
   * @param dGamma output, may be null: per-channel {@code Σ dy * xhat}, {@code float[channels]}, overwritten
   * @param dBeta output, may be null: per-channel {@code Σ dy}, {@code float[channels]}, overwritten
   */
  public void groupNormBackward(GroupShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, float[] gamma,
                                float[] mean, float[] invStd, MemorySegment dx, long dxOffset, float[] dGamma, float[] dBeta) {
    ensureOpen();
    NormShape t = GroupNorm.tensorShape(s);
    LayerNorm.checkBackwardSegments(t, x, xOffset, dy, dyOffset, dx, dxOffset);
    GroupNorm.checkBackward(s, gamma, mean, invStd, dGamma, dBeta);
    float[] xa = Staging.backingArray(x, xOffset), ga = Staging.backingArray(dy, dyOffset), da = Staging.backingArray(dx, dxOffset);
    if (xa != null && ga != null && da != null) {
      GroupNorm.checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", xa, "x", ga, "dy");
      GroupNorm.checkNotTensor(dGamma, "dGamma", dBeta, "dBeta", da, "dx", null, null);
    } else {
      GroupNorm.sampleFloats(s);
    }
    Work w = take().samples(GN_BACKWARD, s, team.threads()).segments(x, xOffset, dy, dyOffset, dx, dxOffset);
    run(w.params(gamma, null, 0, mean, invStd, dGamma, dBeta));
  }

  // ------------------------------------------------------------------ running a call

  /** Runs the call's chunks (on the caller alone when there is one chunk or a confined segment), then merges the gradients. */
  private void run(Work w) {
    try {
      if (w.ranges > 0) {
        runRanges(w);
      } else {
        team.run(w, w.count, w.confined, w.loop);
      }
      if (w.mergeInParallel(team.threads())) {
        // The chunks' partials merged by blocks of channels on all threads: the same additions per channel
        // in the same (chunk) order as the caller's merge, so the same bits.
        w.merging = true;
        team.run(w, w.mergeBlocks, w.confined, w.loop);
      } else {
        w.mergeGradients();
      }
    } finally {
      w.merging = false;
      w.unbind();
      idle.set(w);
    }
  }

  /**
   * A channels-last group norm whose samples are split into row ranges. With fewer samples than threads,
   * every range reduces per channel (phase 1), the caller merges each sample's ranges in double in range
   * order ({@link GroupNormRows}), then every range writes (phase 2): two loops over the ranges. With at
   * least as many samples as threads, each chunk is one sample running the same steps on its ranges in
   * order, so the sample's second pass finds it in its thread's cache (phase 0). The ranges and the merges
   * are the same either way, so the bits depend on the shape only.
   */
  private void runRanges(Work w) {
    int batch = w.shape.batch();
    if (batch >= team.threads()) {
      w.phase = 0;
      team.run(w, batch, w.confined, w.loop);
      return;
    }
    if (w.op != GN_FORWARD) for (int n = 0; n < batch; n++) w.spreadStatistics(n);
    w.phase = 1;
    team.run(w, w.count, w.confined, w.loop);
    for (int n = 0; n < batch; n++) w.mergeSample(n);
    w.phase = 2;
    team.run(w, w.count, w.confined, w.loop);
  }

  private Work take() {
    Work w = idle.getAndSet(null);
    return w != null ? w : new Work(layer, group, team.newLoop());
  }

  /**
   * One call's chunks: the partition (units of whole rows or samples, {@code perChunk} per chunk), the
   * call's tensors and parameters, and per-chunk gradient partials kept for the next call of the same width.
   */
  private static final class Work implements ChunkJob.Body {
    /**
     * Batches below this many samples split channels-last samples into row ranges: a batch of one. A
     * larger batch keeps whole samples: at 2 threads on NHWC 2x56x56x64, whole samples took 78-83 us a
     * forward and ranges 190-227 us (even one sample per chunk), so ranges are only for a sample that
     * would otherwise run on one thread.
     */
    static final int RANGE_BATCH = 2;
    /**
     * Samples per chunk, at most, of a channels-last forward over whole samples (when a chunk of 512 KiB
     * holds fewer): on NHWC 32x7x7x2048, ParallelNorms(2), chunks of 1, 16 and 4 samples took 1095-1374,
     * 990-1381 and 827-949 us a call (3 rounds each of GroupNormThreads, one after the other, load 2-7;
     * the facade 1470-2594 us in the same runs); 4 leaves 4 chunks a thread there to balance.
     */
    static final int FORWARD_RUN = 4;
    /**
     * Positions per channel a channels-first backward chunk of whole samples holds at least (by taking
     * several samples): each chunk pays a fixed cost per channel (one dGamma and one dBeta vector zeroed
     * and lane-summed: ~13-28 us a chunk at 2048 channels, ParallelNorms(1) against the facade). On NCHW
     * 32x7x7x2048, ParallelNorms(2), chunks of 1, 2, 4 and 8 samples took 1895-1920, 1554-1564, 1457-1677
     * and 1563-1738 us a call (gn2t's trace, one JVM each, load ~3); 64 (2 samples there) against 196 (4
     * samples), GroupNormThreads alternating the two jars twice, quiet (2-thread copy 472-505 us): 2 threads
     * 1155-1216 against 1009-1130 us, ParallelNorms(1) 2226-2369 against 1900-2156 (gn12). Planes of 196
     * or more keep the 512 KiB partition.
     */
    static final int BACKWARD_POSITIONS = 196;
    /** ... but at least this many chunks (when the batch allows), so 2 or 3 threads still balance. */
    static final int MIN_BACKWARD_CHUNKS = 8;

    final LayerNormSupport layer;
    final GroupNormSupport group;
    int op, units, perChunk, count;
    /**
     * Channels-first group norm with samples larger than a chunk: each sample is {@code blocks} chunks of
     * {@code groupsPerBlock} consecutive groups (contiguous in memory); 0 otherwise (chunks of whole units).
     */
    int blocks, groupsPerBlock;
    /**
     * Channels-last group norm with fewer than {@link #RANGE_BATCH} samples larger than a chunk: each
     * sample is {@code ranges} chunks of {@code rowsPerRange} pixel rows (the last the rest), run in two
     * phases ({@link ParallelNorms#runRanges}; {@code phase} 1 or 2, or 0: a chunk is a whole sample); 0 otherwise.
     */
    int ranges, rowsPerRange, phase;
    /** [chunk][channel]: a range's per-channel results (forward mean, residual, variance; backward Σdy, Σdy*xhat). */
    float[][] partA = new float[0][], partB = new float[0][], partC = new float[0][];
    /** [sample][channel]: group statistics spread per channel; [sample][4 * channel]: dx coefficients. */
    float[][] chMean = new float[0][], chInvStd = new float[0][], coef = new float[0][];
    /** [sample][channel]: the sample's Σdy and Σdy*xhat over its ranges. */
    float[][] sumDy = new float[0][], sumDyXhat = new float[0][];
    /** [block]: the block's part of gamma and beta, for kernels that index parameters from the block's first channel. */
    float[][] gammaSlices = new float[0][], betaSlices = new float[0][];
    /** Floats per unit: a row's features or a sample's channels * spatial. */
    long unitFloats;
    int features;
    GroupShape shape;
    int statsPerUnit;

    boolean segments, confined;
    /** Every segment of the call is plain native memory: group norm chunks run on the native bodies, unstaged. */
    boolean plainNative;
    float[] x, dy, out;
    int xOffset, dyOffset, outOffset;
    MemorySegment xSeg, dySeg, outSeg;
    long xSegOffset, dySegOffset, outSegOffset;

    float[] gamma, beta, mean, invStd, dGamma, dBeta;
    float epsilon;
    /** With an executor: this call's loop on it; null with owned workers. */
    final ExecutorLoop loop;
    /** [chunk][channel or feature]: each chunk's own sums; added in chunk order into {@link #sum}. */
    float[][] partGamma = new float[0][], partBeta = new float[0][];
    double[] sum = new double[0];

    Work(LayerNormSupport layer, GroupNormSupport group, ExecutorLoop loop) {
      this.layer = layer;
      this.group = group;
      this.loop = loop;
    }

    Work rows(int op, int rows, int features) {
      this.shape = null;
      this.blocks = 0;
      this.ranges = 0;
      this.features = features;
      this.statsPerUnit = 1;
      return partition(op, rows, features);
    }

    /** @param threads the threads a call runs on: forward runs of samples are at most an equal share each */
    Work samples(int op, GroupShape s, int threads) {
      this.shape = s;
      this.features = s.channels();
      this.statsPerUnit = s.groups();
      this.blocks = 0;
      this.ranges = 0;
      long sample = (long) s.channels() * s.spatial(), target = target(s.size());
      if (s.channelsLast() && s.batch() < RANGE_BATCH && sample > target && s.spatial() > 1) {
        // Channels-last groups interleave in every pixel row: a sample splits into ranges of rows, whose
        // per-channel sums are merged between a reduce pass and a write pass.
        rowsPerRange = Math.ceilDiv(s.spatial(), (int) Math.min(s.spatial(), Math.ceilDiv(sample, target)));
        ranges = Math.ceilDiv(s.spatial(), rowsPerRange);
        this.op = op;
        this.units = s.batch();
        this.unitFloats = sample;
        this.count = s.batch() * ranges;
        return this;
      }
      if (!s.channelsLast() && s.groups() > 1 && sample > target) {
        // A channels-first group is contiguous, so a sample splits into blocks of groups; channels-last
        // groups interleave in every pixel row and stay whole samples.
        groupsPerBlock = (int) Math.max(1, target / (sample / s.groups()));
        blocks = Math.ceilDiv(s.groups(), groupsPerBlock);
        this.op = op;
        this.units = s.batch();
        this.unitFloats = sample;
        this.count = Math.toIntExact((long) s.batch() * blocks);
        return this;
      }
      partition(op, s.batch(), sample);
      if (op == GN_BACKWARD && !s.channelsLast()) {
        // Runs of samples with at least BACKWARD_POSITIONS positions per channel: the channels-first backward
        // pays per call (per chunk) a pass over one vector of dGamma and one of dBeta per channel (zeroed, lanes
        // summed at the end), 2 * 2048 * 16 floats at NCHW 32x7x7x2048, against 3 * 49 floats of data per
        // channel and sample. Shape only, so the merge order (the bits) does not depend on the threads.
        int run = Math.min(Math.ceilDiv(BACKWARD_POSITIONS, s.spatial()), Math.max(1, s.batch() / MIN_BACKWARD_CHUNKS));
        if (run > perChunk) {
          perChunk = run;
          count = Math.ceilDiv(s.batch(), run);
        }
      }
      if (op == GN_FORWARD && s.channelsLast()) {
        // Runs of consecutive samples: the channels-last forward pipelines within a call (writing sample n
        // sums sample n + 1), so every chunk boundary costs one sample read alone and summed twice. At
        // 1-sample chunks ParallelNorms(1) took 1.25-1.39x the facade's time on NHWC 32x7x7x2048 in four
        // of six rounds (GroupNormThreads, two runs; the other two were load). Forward samples are
        // independent, so the bits do not depend on the partition.
        int run = Math.min(FORWARD_RUN, Math.ceilDiv(s.batch(), threads));
        if (run > perChunk) {
          perChunk = run;
          count = Math.ceilDiv(s.batch(), run);
        }
      }
      return this;
    }

    private static long target(long size) {
      return Math.max(ParallelBatchNorm.CHUNK_FLOATS, Math.ceilDiv(size, ParallelBatchNorm.MAX_CHUNKS));
    }

    /** Depends on the shape only, so the gradients' merge order, and so the bits, do not depend on the threads. */
    private Work partition(int op, int units, long unitFloats) {
      this.op = op;
      this.units = units;
      this.unitFloats = unitFloats;
      perChunk = (int) Math.max(1, Math.min(units, target(units * unitFloats) / unitFloats));
      count = Math.ceilDiv(units, perChunk);
      return this;
    }

    Work arrays(float[] x, int xOffset, float[] dy, int dyOffset, float[] out, int outOffset) {
      segments = false;
      confined = false;
      this.x = x;
      this.xOffset = xOffset;
      this.dy = dy;
      this.dyOffset = dyOffset;
      this.out = out;
      this.outOffset = outOffset;
      return this;
    }

    /** Segments all backed by float[] run as arrays, as in the facades; otherwise every chunk is staged. */
    Work segments(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment out, long outOffset) {
      float[] xa = Staging.backingArray(x, xOffset), oa = Staging.backingArray(out, outOffset);
      float[] ga = dy == null ? null : Staging.backingArray(dy, dyOffset);
      if (xa != null && oa != null && (dy == null || ga != null)) {
        return arrays(xa, Staging.elementOffset(x, xOffset), ga, dy == null ? 0 : Staging.elementOffset(dy, dyOffset), oa,
            Staging.elementOffset(out, outOffset));
      }
      segments = true;
      plainNative = Staging.plainNative(x) && Staging.plainNative(out) && (dy == null || Staging.plainNative(dy));
      confined = !x.isAccessibleBy(ANOTHER_THREAD) || !out.isAccessibleBy(ANOTHER_THREAD)
          || (dy != null && !dy.isAccessibleBy(ANOTHER_THREAD));
      xSeg = x;
      xSegOffset = xOffset;
      dySeg = dy;
      dySegOffset = dyOffset;
      outSeg = out;
      outSegOffset = outOffset;
      return this;
    }

    Work params(float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, float[] dGamma, float[] dBeta) {
      this.gamma = gamma;
      this.beta = beta;
      this.epsilon = epsilon;
      this.mean = mean;
      this.invStd = invStd;
      this.dGamma = dGamma;
      this.dBeta = dBeta;
      if (dGamma != null) partGamma = partials(partGamma);
      if (dBeta != null) partBeta = partials(partBeta);
      if (blocks > 0) {
        gammaSlices = slices(gammaSlices, gamma);
        betaSlices = slices(betaSlices, beta);
      }
      if (ranges > 0) {
        partA = perChannel(partA, count, features);
        partB = perChannel(partB, count, features);
        partC = perChannel(partC, count, features);
        chMean = perChannel(chMean, units, features);
        chInvStd = perChannel(chInvStd, units, features);
        coef = perChannel(coef, units, 4 * features);
        sumDy = perChannel(sumDy, units, features);
        sumDyXhat = perChannel(sumDyXhat, units, features);
      }
      return this;
    }

    /** Channels chunk {@code i} covers, from channel {@link #chunkChannelFrom}. */
    private int chunkChannels(int i) {
      if (blocks == 0) return features;
      return Math.min(groupsPerBlock, shape.groups() - i % blocks * groupsPerBlock) * shape.channelsPerGroup();
    }

    private int chunkChannelFrom(int i) {
      return blocks == 0 ? 0 : i % blocks * groupsPerBlock * shape.channelsPerGroup();
    }

    /** One partial per chunk, as long as the chunk's channels; kept while the partition is the same. */
    private float[][] partials(float[][] p) {
      boolean fits = p.length >= count;
      for (int i = 0; fits && i < count; i++) fits = p[i].length == chunkChannels(i);
      if (!fits) {
        p = new float[count][];
        for (int i = 0; i < count; i++) p[i] = new float[chunkChannels(i)];
      }
      return p;
    }

    /** {@code count} arrays of {@code floats}, kept from the last call when they fit. */
    private static float[][] perChannel(float[][] a, int count, int floats) {
      if (a.length >= count && (count == 0 || a[0].length == floats)) return a;
      a = new float[count][];
      for (int i = 0; i < count; i++) a[i] = new float[floats];
      return a;
    }

    /** Copies the call's per-channel parameter into per-block slices (read by every sample's chunk of that block). */
    private float[][] slices(float[][] cur, float[] param) {
      if (param == null) return cur;
      if (cur.length != blocks || cur[blocks - 1].length != chunkChannels(blocks - 1)) {
        cur = new float[blocks][];
        for (int b = 0; b < blocks; b++) cur[b] = new float[chunkChannels(b)];
      }
      for (int b = 0; b < blocks; b++) System.arraycopy(param, chunkChannelFrom(b), cur[b], 0, cur[b].length);
      return cur;
    }

    @Override
    public void run(int chunk) {
      if (merging) {
        mergeBlock(chunk);
        return;
      }
      if (ranges > 0) {
        if (phase == 0) runSample(chunk);
        else runRange(chunk, phase);
        return;
      }
      int n, stats, statsStep, channels, groups;
      long at, span; // element offset of the chunk, floats per staged unit
      float[] g = gamma, bt = beta;
      if (blocks == 0) {
        int first = chunk * perChunk;
        n = Math.min(perChunk, units - first);
        stats = first * statsPerUnit;
        statsStep = statsPerUnit;
        channels = shape == null ? features : shape.channels();
        groups = shape == null ? 1 : shape.groups();
        at = first * unitFloats;
        span = unitFloats;
      } else { // groups [g0, g0 + groups) of sample `sample`: one contiguous block
        int sample = chunk / blocks, b = chunk % blocks, g0 = b * groupsPerBlock;
        n = 1;
        groups = Math.min(groupsPerBlock, shape.groups() - g0);
        channels = groups * shape.channelsPerGroup();
        stats = sample * shape.groups() + g0;
        statsStep = groups;
        at = sample * unitFloats + (long) chunkChannelFrom(chunk) * shape.spatial();
        span = (long) channels * shape.spatial();
        if (g != null) g = gammaSlices[b];
        if (bt != null) bt = betaSlices[b];
      }
      float[] pg = dGamma == null ? null : partGamma[chunk], pb = dBeta == null ? null : partBeta[chunk];
      if (pg != null) Arrays.fill(pg, 0f); // the kernels add into the gradients
      if (pb != null) Arrays.fill(pb, 0f);
      if (!segments) {
        kernel(x, Math.toIntExact(xOffset + at), dy, dy == null ? 0 : Math.toIntExact(dyOffset + at), out,
            Math.toIntExact(outOffset + at), n, stats, channels, groups, g, bt, pg, pb);
        return;
      }
      long bytes = at * Float.BYTES;
      if (plainNative && nativeKernel(bytes, n, stats, channels, groups, g, bt, pg, pb)) return;
      // As the facades stage: blocks of whole units copied in, computed in place over dy (or x), copied out.
      boolean backward = dySeg != null;
      int c = channels, k = groups, first = stats, step = statsStep;
      float[] gs0 = g, bs0 = bt;
      LayerNorm.staged(n, Math.toIntExact(span), xSeg, xSegOffset + bytes, dySeg, backward ? dySegOffset + bytes : 0, outSeg,
          outSegOffset + bytes,
          (xs, gs, m, r) -> kernel(xs, 0, gs, 0, backward ? gs : xs, 0, m, first + r * step, c, k, gs0, bs0, pg, pb));
    }

    /**
     * Range {@code chunk % ranges} of sample {@code chunk / ranges}, phase 1 (per-channel sums into the
     * range's partials) or 2 (the write from the sample's merged statistics or coefficients). Plain native
     * segments run on the native bodies where they apply; other segments not backed by arrays are copied
     * whole per range (a range is at most about one chunk).
     */
    private void runRange(int chunk, int phase) {
      int sample = chunk / ranges, r0 = chunk % ranges * rowsPerRange, rows = Math.min(rowsPerRange, shape.spatial() - r0);
      int c = features, floats = rows * c;
      long at = sample * unitFloats + (long) r0 * c;
      boolean forward = op == GN_FORWARD;
      if (plainNative && nativeRange(chunk, phase, sample, at * Float.BYTES, rows, c, forward)) return;
      float[] xa = x, ga = dy, oa = out;
      int xo, go, oo;
      if (segments) {
        long bytes = at * Float.BYTES;
        xa = new float[floats];
        MemorySegment.copy(xSeg, Staging.FLOAT_LE, xSegOffset + bytes, xa, 0, floats);
        if (!forward) {
          ga = new float[floats];
          MemorySegment.copy(dySeg, Staging.FLOAT_LE, dySegOffset + bytes, ga, 0, floats);
        }
        oa = forward ? xa : ga; // computed in place, then copied out
        xo = go = oo = 0;
      } else {
        xo = Math.toIntExact(xOffset + at);
        go = forward ? 0 : Math.toIntExact(dyOffset + at);
        oo = Math.toIntExact(outOffset + at);
      }
      if (phase == 1) {
        if (forward) {
          group.rowMoments(xa, xo, rows, c, partA[chunk], partB[chunk], partC[chunk]);
        } else {
          group.rowGradientSums(xa, xo, ga, go, rows, c, chMean[sample], chInvStd[sample], partA[chunk], partB[chunk]);
          gradientPartials(chunk, c);
        }
        return;
      }
      if (forward) group.rowNormalize(xa, xo, oa, oo, rows, c, chMean[sample], chInvStd[sample], gamma, beta);
      else group.rowApply(xa, xo, ga, go, oa, oo, rows, c, coef[sample]);
      if (segments) MemorySegment.copy(oa, 0, outSeg, Staging.FLOAT_LE, outSegOffset + at * Float.BYTES, floats);
    }

    /** Sample {@code n}'s ranges in order, phase 1, its merge, phase 2: one chunk, as {@link ParallelNorms#runRanges} does over all. */
    private void runSample(int n) {
      if (op != GN_FORWARD) spreadStatistics(n);
      for (int k = 0; k < ranges; k++) runRange(n * ranges + k, 1);
      mergeSample(n);
      for (int k = 0; k < ranges; k++) runRange(n * ranges + k, 2);
    }

    /** The forward's statistics of sample {@code n} per channel, for the backward's reduce pass. */
    void spreadStatistics(int n) {
      GroupNormRows.spread(mean, invStd, n * shape.groups(), features, shape.groups(), chMean[n], chInvStd[n]);
    }

    /** Sample {@code n}'s ranges merged: group statistics (forward) or dx coefficients (backward). */
    void mergeSample(int n) {
      int g = shape.groups(), first = n * ranges;
      if (op == GN_FORWARD) {
        GroupNormRows.groupStatistics(partA, partB, partC, first, ranges, rowsPerRange, shape.spatial(), features, g, epsilon, mean,
            invStd, n * g, chMean[n], chInvStd[n]);
      } else {
        GroupNormRows.sumRanges(partA, first, ranges, features, sumDy[n]);
        GroupNormRows.sumRanges(partB, first, ranges, features, sumDyXhat[n]);
        GroupNormRows.coefficients(sumDy[n], sumDyXhat[n], features, g, gamma, invStd, n * g,
            (double) shape.channelsPerGroup() * shape.spatial(), chMean[n], coef[n], null, null);
      }
    }

    /** Group norm's native bodies on the chunk at byte {@code bytes}, as {@link #kernel}; false (nothing written) where they stage. */
    private boolean nativeKernel(long bytes, int n, int stats, int channels, int groups, float[] gamma, float[] beta, float[] pg,
                                 float[] pb) {
      return switch (op) {
        case GN_FORWARD -> group.forwardNative(xSeg, xSegOffset + bytes, outSeg, outSegOffset + bytes, n, channels, shape.spatial(), groups,
            shape.channelsLast(), gamma, beta, epsilon, mean, invStd, stats);
        case GN_BACKWARD -> group.backwardNative(xSeg, xSegOffset + bytes, dySeg, dySegOffset + bytes, outSeg, outSegOffset + bytes, n,
            channels, shape.spatial(), groups, shape.channelsLast(), gamma, mean, invStd, stats, pg, pb);
        default -> false;
      };
    }

    /** A range's Σdy and Σdy*xhat are also its chunk's dBeta and dGamma partials (merged in chunk order after the call). */
    private void gradientPartials(int chunk, int c) {
      if (dBeta != null) System.arraycopy(partA[chunk], 0, partBeta[chunk], 0, c);
      if (dGamma != null) System.arraycopy(partB[chunk], 0, partGamma[chunk], 0, c);
    }

    /** {@link #runRange} on the native bodies, unstaged; false (nothing written) where they stage. */
    private boolean nativeRange(int chunk, int phase, int sample, long bytes, int rows, int c, boolean forward) {
      long xo = xSegOffset + bytes, oo = outSegOffset + bytes, go = dySegOffset + bytes;
      if (phase == 1) {
        if (forward) return group.rowMomentsNative(xSeg, xo, rows, c, partA[chunk], partB[chunk], partC[chunk]);
        if (!group.rowGradientSumsNative(xSeg, xo, dySeg, go, rows, c, chMean[sample], chInvStd[sample], partA[chunk], partB[chunk])) {
          return false;
        }
        gradientPartials(chunk, c);
        return true;
      }
      if (forward) return group.rowNormalizeNative(xSeg, xo, outSeg, oo, rows, c, chMean[sample], chInvStd[sample], gamma, beta);
      return group.rowApplyNative(xSeg, xo, dySeg, go, outSeg, oo, rows, c, coef[sample]);
    }

    /** {@code n} units (rows, samples, or one block of groups) whose statistics start at index {@code stats}. */
    private void kernel(float[] x, int xo, float[] dy, int dyo, float[] out, int oo, int n, int stats, int channels, int groups,
                        float[] gamma, float[] beta, float[] pg, float[] pb) {
      switch (op) {
        case LN_FORWARD -> layer.forward(x, xo, out, oo, n, features, gamma, beta, epsilon, mean, invStd, stats);
        case LN_BACKWARD -> layer.backward(x, xo, dy, dyo, out, oo, n, features, gamma, mean, invStd, stats, pg, pb);
        case RMS_FORWARD -> layer.rmsForward(x, xo, out, oo, n, features, gamma, epsilon, invStd, stats);
        case RMS_BACKWARD -> layer.rmsBackward(x, xo, dy, dyo, out, oo, n, features, gamma, invStd, stats, pg);
        case GN_FORWARD -> group.forward(x, xo, out, oo, n, channels, shape.spatial(), groups, shape.channelsLast(), gamma, beta,
            epsilon, mean, invStd, stats);
        case GN_BACKWARD -> group.backward(x, xo, dy, dyo, out, oo, n, channels, shape.spatial(), groups, shape.channelsLast(),
            gamma, mean, invStd, stats, pg, pb);
        default -> throw new AssertionError(op);
      }
    }

    /**
     * Partials (chunks x channels) from which the merge runs on all threads: below, the caller merges
     * alone. NCHW 32x7x7x2048's backward has 32 chunks of 2048 channels, 131072 partials for the two
     * gradients, added serially after the parallel loop otherwise.
     */
    static final int PARALLEL_MERGE = 1 << 13;

    /** Set while the chunk loop merges gradients ({@link #mergeBlock}) instead of running chunks. */
    boolean merging;
    /** Blocks of channels the parallel merge runs over. */
    int mergeBlocks;

    /** Whether to merge the gradients on all threads; sets {@link #mergeBlocks}. */
    boolean mergeInParallel(int threads) {
      if (threads < 2 || (dGamma == null && dBeta == null) || (long) count * features < PARALLEL_MERGE) return false;
      mergeBlocks = Math.min(threads, Math.ceilDiv(features, MERGE_ALIGN));
      if (mergeBlocks < 2) return false;
      if (sum.length != features) sum = new double[features];
      return true;
    }

    /** Channels per merge block are a multiple of this (16 doubles, two cache lines), so blocks share no line of {@link #sum}. */
    private static final int MERGE_ALIGN = 16;

    /** Merge block {@code b}: channels {@code [b * step, (b + 1) * step)} of both gradients, as {@link #mergeGradients}. */
    private void mergeBlock(int b) {
      int step = Math.ceilDiv(Math.ceilDiv(features, mergeBlocks), MERGE_ALIGN) * MERGE_ALIGN;
      int f0 = Math.min(features, b * step), f1 = Math.min(features, f0 + step);
      if (dGamma != null) merge(partGamma, dGamma, f0, f1);
      if (dBeta != null) merge(partBeta, dBeta, f0, f1);
    }

    /** Chunk partials added in chunk order, in double: the same bits for any thread count. */
    void mergeGradients() {
      if (sum.length != features) sum = new double[features];
      if (dGamma != null) merge(partGamma, dGamma, 0, features);
      if (dBeta != null) merge(partBeta, dBeta, 0, features);
    }

    /** Channels {@code [f0, f1)} of {@code result}: each channel's chunk partials in increasing chunk index, in double. */
    private void merge(float[][] parts, float[] result, int f0, int f1) {
      Arrays.fill(sum, f0, f1, 0);
      for (int i = 0; i < count; i++) { // chunk order: for each channel, its chunks in increasing index
        float[] p = parts[i];
        int from = chunkChannelFrom(i), lo = Math.max(f0, from), hi = Math.min(f1, from + p.length);
        for (int f = lo; f < hi; f++) sum[f] += p[f - from];
      }
      for (int f = f0; f < f1; f++) result[f] = (float) sum[f];
    }

    /** Drops the call's references so an idle Work keeps no tensor alive. */
    void unbind() {
      x = dy = out = null;
      xSeg = dySeg = outSeg = null;
      gamma = beta = mean = invStd = dGamma = dBeta = null;
      shape = null;
    }
  }
}
