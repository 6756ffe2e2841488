package dev.vecnorm;

import dev.vecnorm.internal.BatchNormSupport;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Runs the array kernels over segments that are not plain {@code float[]} views (native memory,
 * read-only or byte-backed heap segments) by copying tiles of the tensor into reused on-heap stage
 * arrays, computing there, and copying results out. On JDK 25 this is faster than Vector API loads
 * straight from native segments (see the README), and it keeps one kernel implementation.
 *
 * <p>Copies are the whole cost of staging, so each operation copies as little as it can:
 * <ul>
 *   <li>Statistics, training forward and backward take a tensor of at most {@link #STAGE_FLOATS} as one
 *       tile: x (and dy) are copied in once, both kernel passes run on the stage, y (dx) is copied out
 *       once. No tensor is cut into pieces smaller than it needs.</li>
 *   <li>They take a larger channels-first tensor whose single channel {@code [outer, inner]} fits the
 *       stage in <em>channel-complete</em> tiles: blocks of channels gathered from every slab. Each tile
 *       holds all of its channels' data, so x (and dy) are read once, where the {@code float[]}
 *       kernels read them twice.</li>
 *   <li>Everything else (inference, channels-last tensors over the stage) streams contiguous tiles of
 *       about {@link #CHUNK_FLOATS}: whole slabs, or channel blocks of one slab, or pieces of one
 *       channel's {@code inner} extent, so a huge slab never needs a huge stage. Statistics then take
 *       one pass over x and normalization a second, as the array kernels do.</li>
 * </ul>
 * What staging cannot remove is the copy itself: a tile is read from the segment, written to the
 * stage, and (for outputs) read from the stage and written to the segment. When the tensor sits in
 * cache the kernels run at cache bandwidth too, so those copies cost about as much as the kernel
 * (README: measured ratios). Stages and per-channel temporaries come from a pool with a slot per
 * processor, so a steady stream of calls, from one thread or several, allocates nothing. Tile statistics merge with Chan's formula in double, as cache
 * blocks do inside the kernels.
 */
final class Staging {
  private Staging() {}

  static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /**
   * Capacity of one stage in floats (1 MiB): tensors or channel-complete tiles up to this size are
   * computed in one read. Backward holds two stages (x and dy), half of a 4 MiB L2 pair here and within
   * the 1-2 MiB L2 of current x86 cores for the forward.
   */
  static final int STAGE_FLOATS = 256 * 1024;

  /**
   * Target tile of the streaming passes in floats (256 KiB): in L2 while the kernel reads it, and tall
   * enough (256 rows of 256 channels) that the per-tile fold of coefficients and the double merge of
   * statistics, both O(channels), stay a small fraction of the O(rows * channels) work.
   */
  static final int CHUNK_FLOATS = 64 * 1024;

  /** Channel-complete tiles gather one run per slab; runs shorter than this (4 KiB) make copies call-bound. */
  static final int MIN_RUN_FLOATS = 1024;

  /** The float[] behind a heap segment at a float-aligned offset, or null (then stage). */
  static float[] backingArray(MemorySegment s, long byteOffset) {
    if (s.isNative() || ((s.address() + byteOffset) & 3) != 0) return null;
    return s.heapBase().orElse(null) instanceof float[] a ? a : null;
  }

  /** Native and not memory-mapped (a mapped segment is another class, which would pollute the native kernels' type profile). */
  static boolean plainNative(MemorySegment s) {
    return s.isNative() && !s.isMapped();
  }

  static int elementOffset(MemorySegment s, long byteOffset) {
    return (int) ((s.address() + byteOffset) >>> 2);
  }

  // ---------------------------------------------------------------- tiles

  /**
   * A walk over the tensor {@code [outer, channels, inner]} in tiles of {@code [tileOuter, tileChannels,
   * tileInner]}, each staged densely, so the kernels see it as a tensor of shape {@code [on, cn, in]}.
   * A tile is either slabs of all channels, or channels of all slabs (channel-complete), or a channel
   * block of one slab, or a piece of one channel's inner extent ({@code tileInner < inner} only with
   * one slab and one channel): every tile is one or {@code on} contiguous runs.
   */
  static final class Tiles {
    private int outer, channels, inner, tileOuter, tileChannels, tileInner;
    int o0, c0, i0, on, cn, in;

    private Tiles plan(NormShape s, boolean channelComplete) {
      outer = s.outer();
      channels = s.channels();
      inner = s.inner();
      long slab = (long) channels * inner, column = (long) outer * inner;
      if (channelComplete && s.size() <= STAGE_FLOATS) {
        set(outer, channels, inner);
      } else if (channelComplete && inner > 1 && column <= STAGE_FLOATS
          && (long) Math.min(channels, STAGE_FLOATS / column) * inner >= MIN_RUN_FLOATS) {
        set(outer, (int) (STAGE_FLOATS / column), inner);
      } else if (slab <= CHUNK_FLOATS) {
        set((int) (CHUNK_FLOATS / slab), channels, inner);
      } else if (inner <= CHUNK_FLOATS) {
        set(1, CHUNK_FLOATS / inner, inner);
      } else {
        set(1, 1, CHUNK_FLOATS);
      }
      o0 = 0;
      c0 = 0;
      i0 = -tileInner; // next() moves to the first tile
      return this;
    }

    private void set(int tileOuter, int tileChannels, int tileInner) {
      this.tileOuter = tileOuter;
      this.tileChannels = tileChannels;
      this.tileInner = tileInner;
    }

    /** True when every tile holds all the data of its channels: one pass suffices for statistics and normalization. */
    boolean channelComplete() {
      return tileOuter >= outer && tileInner == inner;
    }

    /** Advances to the next tile in memory order (slabs, then channels, then inner); false after the last. */
    boolean next() {
      i0 += tileInner;
      if (i0 >= inner) {
        i0 = 0;
        c0 += tileChannels;
        if (c0 >= channels) {
          c0 = 0;
          o0 += tileOuter;
          if (o0 >= outer) return false;
        }
      }
      on = Math.min(tileOuter, outer - o0);
      cn = Math.min(tileChannels, channels - c0);
      in = Math.min(tileInner, inner - i0);
      return true;
    }

    /** Elements per channel in this tile: the count its statistics stand for. */
    double count() {
      return (double) on * in;
    }

    /** Copies this tile of the tensor at {@code byteOffset} into {@code stage} as a dense {@code [on, cn, in]}. */
    void gather(MemorySegment src, long byteOffset, float[] stage) {
      int run = runLength(), runs = on * cn * in / run;
      for (int k = 0; k < runs; k++) MemorySegment.copy(src, FLOAT_LE, byteOffset + 4 * runStart(k), stage, k * run, run);
    }

    /** The inverse of {@link #gather}. */
    void scatter(float[] stage, MemorySegment dst, long byteOffset) {
      int run = runLength(), runs = on * cn * in / run;
      for (int k = 0; k < runs; k++) MemorySegment.copy(stage, k * run, dst, FLOAT_LE, byteOffset + 4 * runStart(k), run);
    }

    /** Tiles of whole slabs are one run (one copy, not one per row); other tiles have one run per slab. */
    private int runLength() {
      return cn == channels && in == inner ? on * cn * in : cn * in;
    }

    /** Element index of the tile's run in slab {@code o0 + o}: its channels (or its piece of one channel) are contiguous. */
    private long runStart(int o) {
      return ((long) (o0 + o) * channels + c0) * inner + i0;
    }
  }

  // ---------------------------------------------------------------- the pooled workspace

  /**
   * Stages, tile walk and per-channel temporaries of one call. Kernel calls on a tile take per-channel
   * arrays of exactly the tile's channel count, so temporaries are kept per slot and per length (a full
   * channel block and the last, shorter one) and survive across calls.
   */
  private static final class Workspace {
    final Tiles tiles = new Tiles();
    final float[] stage = new float[STAGE_FLOATS];
    private float[] second;
    private final float[][] exact = new float[2 * 8][];
    private double[] runMean = new double[0], runM2 = runMean, count = runMean;
    private float[] alpha = new float[0];

    float[] secondStage() {
      if (second == null) second = new float[STAGE_FLOATS];
      return second;
    }

    /** A temporary of exactly {@code tiles.cn} floats for {@code slot} (contents unspecified). */
    float[] temporary(int slot) {
      int length = tiles.cn, at = 2 * slot + (length == tiles.tileChannels ? 0 : 1);
      float[] a = exact[at];
      if (a == null || a.length != length) exact[at] = a = new float[length];
      return a;
    }

    /** The tile's channels of a per-channel input: the caller's array itself when the tile has every channel. */
    float[] slice(int slot, float[] perChannel) {
      if (perChannel == null || tiles.cn == tiles.channels) return perChannel;
      float[] a = temporary(slot);
      System.arraycopy(perChannel, tiles.c0, a, 0, tiles.cn);
      return a;
    }

    /** Per-channel coefficients of a whole call, at least {@code channels} long. */
    float[] alpha(int channels) {
      if (alpha.length < channels) alpha = new float[channels];
      return alpha;
    }

    /** Zeroed running (count, mean, M2) for Chan's merge over {@code channels}. */
    void startMerge(int channels) {
      if (runMean.length < channels) {
        runMean = new double[channels];
        runM2 = new double[channels];
        count = new double[channels];
      }
      Arrays.fill(runMean, 0, channels, 0);
      Arrays.fill(runM2, 0, channels, 0);
      Arrays.fill(count, 0, channels, 0);
    }

    void merge(float[] tileMean, float[] tileMeanResidual, float[] tileVariance) {
      mergeChunk(count, runMean, runM2, tiles.c0, tileMean, tileMeanResidual, tileVariance, tiles.count());
    }

    /** The merged moments; with {@code meanResidual} (may be null) the float mean's rounding error, as the kernels give it. */
    void finishMerge(int channels, float[] mean, float[] meanResidual, float[] variance) {
      for (int c = 0; c < channels; c++) {
        mean[c] = (float) runMean[c];
        if (meanResidual != null) meanResidual[c] = meanResidual(runMean[c], mean[c]);
        variance[c] = (float) (runM2[c] / count[c]);
      }
    }
  }

  /**
   * One slot per processor: threads staging at once (a thread pool running segment operations)
   * each find a workspace after their first call instead of allocating megabytes per call.
   */
  private static final AtomicReferenceArray<Workspace> FREE = new AtomicReferenceArray<>(Runtime.getRuntime().availableProcessors());

  /** A pooled workspace, or a new one when every slot is taken. */
  private static Workspace borrow() {
    for (int i = 0; i < FREE.length(); i++) {
      Workspace w = FREE.getAndSet(i, null);
      if (w != null) return w;
    }
    return new Workspace();
  }

  /** Back to the first empty slot; dropped when all are full. */
  private static void release(Workspace w) {
    for (int i = 0; i < FREE.length(); i++) {
      if (FREE.compareAndSet(i, null, w)) return;
    }
  }

  // ---------------------------------------------------------------- operations

  static void moments(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, float[] mean, float[] meanResidual,
                      float[] variance) {
    if (plainNative(x) && impl.momentsNative(x, xOffset, s.outer(), s.channels(), s.inner(), mean, meanResidual, variance)) {
      return; // straight on native memory, the array kernel's bits (PanamaNativeMoments)
    }
    Workspace w = borrow();
    try {
      momentsPass(impl, w, w.tiles.plan(s, true), s, x, xOffset, mean, meanResidual, variance);
    } finally {
      release(w);
    }
  }

  /** One pass of tiles: kernel moments per tile, merged in double. */
  private static void momentsPass(BatchNormSupport impl, Workspace w, Tiles t, NormShape s, MemorySegment x, long xOffset,
                                  float[] mean, float[] meanResidual, float[] variance) {
    w.startMerge(s.channels());
    while (t.next()) {
      t.gather(x, xOffset, w.stage);
      float[] tileMean = w.temporary(0), tileVariance = w.temporary(1), tileResidual = w.temporary(4);
      impl.moments(w.stage, 0, t.on, t.cn, t.in, tileMean, tileResidual, tileVariance);
      w.merge(tileMean, tileResidual, tileVariance);
    }
    w.finishMerge(s.channels(), mean, meanResidual, variance);
  }

  /** What a merged double mean loses when rounded to {@code rounded}, as the kernels report it (0 for a non-finite mean). */
  static float meanResidual(double mean, float rounded) {
    return Double.isFinite(mean) ? (float) (mean - rounded) : 0f;
  }

  /**
   * Chan's merge, in double, of a chunk's (n, mean, variance) for channels
   * {@code [from, from + chunkMean.length)} into the running per-channel (count, mean, M2). The chunk's
   * mean is {@code chunkMean + chunkMeanResidual} when the residual (the kernels' rounding error of the
   * float mean) is given: without it, 1e4 + N(0, 0.01) data lose ~0.1% of the variance per merge.
   * A non-finite chunk mean follows the kernels' rule ({@link BatchNormSupport#moments}): the running
   * mean becomes the sum of the non-finite means (as the double {@code sum(x) / n} would: +Inf stays
   * +Inf, +Inf with -Inf or NaN gives NaN) and M2 becomes NaN, so merged chunks agree with one call.
   */
  static void mergeChunk(double[] count, double[] runMean, double[] runM2, int from, float[] chunkMean, float[] chunkMeanResidual,
                         float[] chunkVariance, double n) {
    for (int k = 0; k < chunkMean.length; k++) {
      int c = from + k;
      double total = count[c] + n;
      mergeChannel(runMean, runM2, c, chunkMean[k], chunkMeanResidual == null ? 0f : chunkMeanResidual[k], chunkVariance[k], n,
          n / total, count[c] * n / total);
      count[c] = total;
    }
  }

  /**
   * {@link #mergeChunk(double, double[], double[], int, int, int, float[], float[], float[], double) mergeChunk}'s
   * finite case for a chunk holding every channel ({@code chunkFrom} 0) with its mean residuals: the same
   * expressions as its finite branch, in the same order, so the same bits, but without the per-channel
   * branches, so that C2 vectorizes the loop (ParallelBatchNorm's merge sits between its moments and
   * normalize loops on every thread count: microseconds per call at 1024 channels). Only valid when every
   * chunk mean merged so far, and this chunk's, is finite: the caller checks the running means afterwards
   * ({@link #allFinite}) and redoes the range with the branching merge when one is not.
   */
  static void mergeFiniteChunk(double done, double[] runMean, double[] runM2, int from, int to, float[] chunkMean,
                               float[] chunkMeanResidual, float[] chunkVariance, double n) {
    double total = done + n, wBlock = n / total, wCross = done * n / total;
    for (int c = from; c < to; c++) {
      double delta = ((double) chunkMean[c] + chunkMeanResidual[c]) - runMean[c];
      runMean[c] += delta * wBlock;
      runM2[c] += (double) chunkVariance[c] * n + delta * delta * wCross;
    }
  }

  /**
   * {@link #mergeChunk(double[], double[], double[], int, float[], float[], float[], double) mergeChunk}
   * into channels {@code [from, to)} when every one of them has merged the same count {@code done}
   * before this chunk (a fixed chunk partition: {@code ParallelBatchNorm}): Chan's two weights are then
   * the same for every channel, so they are computed once per chunk instead of as two double divisions
   * per channel and chunk, from the same expressions, so with the same bits. The chunk's arrays hold
   * channels from {@code chunkFrom} on.
   */
  static void mergeChunk(double done, double[] runMean, double[] runM2, int from, int to, int chunkFrom, float[] chunkMean,
                         float[] chunkMeanResidual, float[] chunkVariance, double n) {
    double total = done + n, wBlock = n / total, wCross = done * n / total;
    for (int c = from; c < to; c++) {
      int k = c - chunkFrom;
      mergeChannel(runMean, runM2, c, chunkMean[k], chunkMeanResidual == null ? 0f : chunkMeanResidual[k], chunkVariance[k], n,
          wBlock, wCross);
    }
  }

  /** Chan's merge of one channel: {@code wBlock = n / total}, {@code wCross = done * n / total}. */
  private static void mergeChannel(double[] runMean, double[] runM2, int c, float chunkMean, float residual, float chunkVariance,
                                   double n, double wBlock, double wCross) {
    double m = chunkMean;
    if (Double.isFinite(m)) m += residual;
    if (!Double.isFinite(m) || !Double.isFinite(runMean[c])) {
      // Chan's delta would turn Inf - Inf into NaN; a finite running mean (0 before the first chunk) adds nothing.
      double sum = Double.isFinite(runMean[c]) ? m : Double.isFinite(m) ? runMean[c] : runMean[c] + m;
      runMean[c] = Double.isNaN(sum) ? Double.NaN : sum;
      runM2[c] = Double.NaN;
    } else {
      double delta = m - runMean[c];
      runMean[c] += delta * wBlock;
      runM2[c] += (double) chunkVariance * n + delta * delta * wCross;
    }
  }

  /**
   * Training forward. Channel-complete tiles are read once: moments, then normalization with
   * {@code invStd} derived from the tile's variance exactly as {@link Kernels#finishStatistics} derives
   * it, then the tile is written out. Otherwise a statistics pass, then a normalization pass.
   */
  static void forwardTraining(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, float[] gamma, float[] beta,
                              float epsilon, MemorySegment y, long yOffset, float[] batchMean, float[] batchVariance,
                              float[] invStd) {
    if (plainNative(x) && plainNative(y)
        && impl.momentsNative(x, xOffset, s.outer(), s.channels(), s.inner(), batchMean, null, batchVariance)) {
      // No staging: the float[] path's moments, invStd and normalize on the memory itself, so the same bits.
      // Moments read all of x before normalize writes y, so y == x is fine. Wide ragged rows have no
      // native normalize: that pass alone is staged.
      Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
      if (!impl.normalizeNative(x, xOffset, y, yOffset, s.outer(), s.channels(), s.inner(), batchMean, invStd, false, epsilon,
          gamma, beta)) {
        normalize(impl, s, x, xOffset, y, yOffset, batchMean, invStd, false, epsilon, gamma, beta);
      }
      return;
    }
    Workspace w = borrow();
    try {
      Tiles t = w.tiles.plan(s, true);
      if (t.channelComplete()) {
        w.startMerge(s.channels());
        while (t.next()) {
          t.gather(x, xOffset, w.stage);
          float[] tileMean = w.temporary(0), tileVariance = w.temporary(1);
          impl.moments(w.stage, 0, t.on, t.cn, t.in, tileMean, tileVariance);
          impl.normalize(w.stage, 0, w.stage, 0, t.on, t.cn, t.in, tileMean, tileVariance, true, epsilon,
              w.slice(2, gamma), w.slice(3, beta));
          t.scatter(w.stage, y, yOffset);
          w.merge(tileMean, null, tileVariance); // channel-complete: one tile per channel, nothing to merge with
        }
        w.finishMerge(s.channels(), batchMean, null, batchVariance);
        Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
      } else {
        momentsPass(impl, w, t, s, x, xOffset, batchMean, null, batchVariance);
        Kernels.finishStatistics(s, epsilon, batchVariance, invStd);
        normalizePass(impl, w, s, x, xOffset, y, yOffset, batchMean, invStd, false, epsilon, gamma, beta);
      }
    } finally {
      release(w);
    }
  }

  static void normalize(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment y, long yOffset,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    Workspace w = borrow();
    try {
      normalizePass(impl, w, s, x, xOffset, y, yOffset, mean, scale, fromVariance, epsilon, gamma, beta);
    } finally {
      release(w);
    }
  }

  /**
   * One streaming pass: each tile is copied in, normalized in place on the stage, and copied out.
   * {@code alpha = gamma * invStd} is folded once here, not per tile: from a variance that is a square
   * root and a division per channel, which on short tiles of wide rows would cost more than the tile.
   * The kernels then get {@code alpha} as invStd and no gamma, and compute the same product.
   */
  private static void normalizePass(BatchNormSupport impl, Workspace w, NormShape s, MemorySegment x, long xOffset,
                                    MemorySegment y, long yOffset, float[] mean, float[] scale, boolean fromVariance,
                                    float epsilon, float[] gamma, float[] beta) {
    float[] alpha = w.alpha(s.channels());
    if (fromVariance) Kernels.finishStatistics(s, epsilon, scale, alpha);
    else System.arraycopy(scale, 0, alpha, 0, s.channels());
    if (gamma != null) for (int c = 0; c < s.channels(); c++) alpha[c] *= gamma[c];
    Tiles t = w.tiles.plan(s, false);
    while (t.next()) {
      t.gather(x, xOffset, w.stage);
      impl.normalize(w.stage, 0, w.stage, 0, t.on, t.cn, t.in, w.slice(0, mean), w.slice(1, alpha), false, epsilon, null,
          w.slice(3, beta));
      t.scatter(w.stage, y, yOffset);
    }
  }

  /**
   * Backward ({@code apply == true}) or its reduction alone. Channel-complete tiles read x and dy once
   * for both the sums and dx; otherwise a reduction pass, then an apply pass.
   */
  static void backward(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                       float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, boolean apply,
                       MemorySegment dx, long dxOffset) {
    backward(impl, s, x, xOffset, dy, dyOffset, mean, invStd, gamma, sumDy, sumDyXhat, apply, dx, dxOffset, s.size());
  }

  /**
   * {@link #backward} on a part ({@code s}) of a tensor of {@code tensorFloats} floats, a {@code ParallelBatchNorm}
   * chunk: the native reduce may walk it as the whole tensor ({@code BatchNormSupport.backwardReduceNativeChunk}).
   */
  static void backward(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset,
                       float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, boolean apply,
                       MemorySegment dx, long dxOffset, long tensorFloats) {
    if (plainNative(x) && plainNative(dy) && (apply
        ? plainNative(dx) && impl.backwardNative(x, xOffset, dy, dyOffset, dx, dxOffset, s.outer(), s.channels(), s.inner(), mean,
            invStd, gamma, sumDy, sumDyXhat, s.countPerChannel())
        : impl.backwardReduceNativeChunk(x, xOffset, dy, dyOffset, s.outer(), s.channels(), s.inner(), mean, invStd, sumDy,
            sumDyXhat, tensorFloats))) {
      return; // straight on native memory, as normalize (PanamaNativeBackward)
    }
    Workspace w = borrow();
    try {
      Tiles t = w.tiles.plan(s, true);
      float[] stageX = w.stage, stageDy = w.secondStage();
      Arrays.fill(sumDy, 0);
      Arrays.fill(sumDyXhat, 0);
      boolean onePass = apply && t.channelComplete();
      while (t.next()) {
        t.gather(x, xOffset, stageX);
        t.gather(dy, dyOffset, stageDy);
        float[] tileMean = w.slice(0, mean), tileInvStd = w.slice(1, invStd);
        float[] tileDy = w.temporary(2), tileDyXhat = w.temporary(3);
        impl.backwardReduce(stageX, 0, stageDy, 0, t.on, t.cn, t.in, tileMean, tileInvStd, tileDy, tileDyXhat);
        for (int k = 0; k < t.cn; k++) {
          sumDy[t.c0 + k] += tileDy[k];
          sumDyXhat[t.c0 + k] += tileDyXhat[k];
        }
        if (onePass) {
          impl.backwardApply(stageX, 0, stageDy, 0, stageDy, 0, t.on, t.cn, t.in, tileMean, tileInvStd, w.slice(4, gamma),
              tileDy, tileDyXhat, s.countPerChannel());
          t.scatter(stageDy, dx, dxOffset);
        }
      }
      if (apply && !onePass) applyPass(impl, w, s, x, xOffset, dy, dyOffset, dx, dxOffset, mean, invStd, gamma, sumDy, sumDyXhat,
          s.countPerChannel());
    } finally {
      release(w);
    }
  }

  static void backwardApply(BatchNormSupport impl, NormShape s, MemorySegment x, long xOffset, MemorySegment dy,
                            long dyOffset, MemorySegment dx, long dxOffset, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    if (plainNative(x) && plainNative(dy) && plainNative(dx) && impl.backwardApplyNative(x, xOffset, dy, dyOffset, dx, dxOffset,
        s.outer(), s.channels(), s.inner(), mean, invStd, gamma, sumDy, sumDyXhat, count)) {
      return;
    }
    Workspace w = borrow();
    try {
      applyPass(impl, w, s, x, xOffset, dy, dyOffset, dx, dxOffset, mean, invStd, gamma, sumDy, sumDyXhat, count);
    } finally {
      release(w);
    }
  }

  private static void applyPass(BatchNormSupport impl, Workspace w, NormShape s, MemorySegment x, long xOffset, MemorySegment dy,
                                long dyOffset, MemorySegment dx, long dxOffset, float[] mean, float[] invStd, float[] gamma,
                                float[] sumDy, float[] sumDyXhat, double count) {
    Tiles t = w.tiles.plan(s, false);
    float[] stageX = w.stage, stageDy = w.secondStage();
    while (t.next()) {
      t.gather(x, xOffset, stageX);
      t.gather(dy, dyOffset, stageDy);
      impl.backwardApply(stageX, 0, stageDy, 0, stageDy, 0, t.on, t.cn, t.in, w.slice(0, mean), w.slice(1, invStd),
          w.slice(2, gamma), w.slice(3, sumDy), w.slice(4, sumDyXhat), count);
      t.scatter(stageDy, dx, dxOffset);
    }
  }
}
