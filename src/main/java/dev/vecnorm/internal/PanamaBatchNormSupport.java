package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API implementation. Loaded by name from {@link VectorizationProvider} so that nothing else
 * links against the incubator module.
 *
 * <p>Channels-last ({@code inner == 1}) kernels vectorize across channels and read memory in order.
 * They see the tensor as a stream of super rows: {@link #superWidth} floats, a multiple of both the
 * channel count and the lanes (lcm, widened to at least {@link #MIN_ROW_FLOATS}), so every vector
 * position maps to fixed channels and small or ragged channel counts (1, 17, lanes - 1) need no
 * per-row loop and no scalar channel tail. Per-position coefficients or accumulators live in pooled
 * scratch ({@link Scratch}). Rows too wide for that ({@code lcm > MAX_SUPER_FLOATS}) are used as they
 * are, with one tail vector (statistics) or a scalar tail. Statistics read each block once (shifted
 * sums, see {@link #momentsChannelsLast}); channels-first kernels vectorize along the contiguous inner
 * extent of each (outer, channel) slice.
 * Species and lane counts live only in static finals so C2 folds them. Vectors are never held in
 * static finals: a constant vector object flowing into a loop phi makes C2 box the accumulator on every
 * iteration (megabytes per call in {@code -prof gc}); {@code FloatVector.zero(SPECIES)} stays intrinsic.
 */
final class PanamaBatchNormSupport implements BatchNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;

  PanamaBatchNormSupport() {
    // Without hardware FMA, Vector.fma is emulated exactly and far slower than the scalar kernels.
    if (!VectorizationProvider.hasFastFma()) throw new UnsupportedOperationException("no hardware FMA (-XX:-UseFMA or an old CPU)");
    if (SPECIES.vectorBitSize() < 128) {
      throw new UnsupportedOperationException("preferred float vector is " + SPECIES.vectorBitSize() + " bits; need >= 128");
    }
  }

  static String describe() {
    return SPECIES.vectorBitSize() + "-bit vectors, " + LANES + " float lanes, FMA";
  }

  @Override
  public String name() {
    return "panama";
  }



  // Rotations by a half, quarter, ... of the vector: a fixed reduction tree for sumLanes.
  private static final VectorShuffle<Float> ROTATE_HALF = VectorShuffle.iota(SPECIES, LANES / 2, 1, true);
  private static final VectorShuffle<Float> ROTATE_QUARTER = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 4), 1, true);
  private static final VectorShuffle<Float> ROTATE_EIGHTH = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 8), 1, true);
  private static final VectorShuffle<Float> ROTATE_SIXTEENTH = VectorShuffle.iota(SPECIES, Math.max(1, LANES / 16), 1, true);

  /**
   * Lane sum by a fixed tree of rotations. {@code reduceLanes(ADD)} may associate differently in the
   * interpreter and in C2, so one call could give different bits before and after JIT; this cannot,
   * and unlike a loop over {@code lane(i)} it stays intrinsic (no boxing). Shared with
   * {@link PanamaLayerNormSupport}, which uses the same species.
   */
  static float sumLanes(FloatVector v) {
    v = v.add(v.rearrange(ROTATE_HALF));
    if (LANES >= 4) v = v.add(v.rearrange(ROTATE_QUARTER));
    if (LANES >= 8) v = v.add(v.rearrange(ROTATE_EIGHTH));
    if (LANES >= 16) v = v.add(v.rearrange(ROTATE_SIXTEENTH));
    return v.lane(0);
  }

  /**
   * {@link #sumLanes} of {@code a} and of {@code b} (same trees, same bits) in one call, packed: a's float
   * bits high, b's low. Its body is only force-inlined vector operations, so where C2's inlining node budget
   * ran out between two sumLanes calls (a native layer-norm row with a one-vector tail), the second lane
   * sum's vector was boxed; one call site is inlined or not as a whole.
   */
  static long sumLanes(FloatVector a, FloatVector b) {
    a = a.add(a.rearrange(ROTATE_HALF));
    b = b.add(b.rearrange(ROTATE_HALF));
    if (LANES >= 4) {
      a = a.add(a.rearrange(ROTATE_QUARTER));
      b = b.add(b.rearrange(ROTATE_QUARTER));
    }
    if (LANES >= 8) {
      a = a.add(a.rearrange(ROTATE_EIGHTH));
      b = b.add(b.rearrange(ROTATE_EIGHTH));
    }
    if (LANES >= 16) {
      a = a.add(a.rearrange(ROTATE_SIXTEENTH));
      b = b.add(b.rearrange(ROTATE_SIXTEENTH));
    }
    return (long) Float.floatToRawIntBits(a.lane(0)) << 32 | Float.floatToRawIntBits(b.lane(0)) & 0xFFFF_FFFFL;
  }

  /**
   * Two floats' bits in one long, {@code hi}'s high: how the kernels return two sums without an allocation. The kernels'
   * own return statements write the expression out rather than call this: they sit in methods whose C2 inlining
   * budget has run out before (see {@link #sumLanes(FloatVector, FloatVector)}), where one more call is not free.
   */
  static long pack(float hi, float lo) {
    return (long) Float.floatToRawIntBits(hi) << 32 | Float.floatToRawIntBits(lo) & 0xFFFF_FFFFL;
  }

  // ---------------------------------------------------------------- moments

  @Override
  public void moments(float[] x, int xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                      float[] variance) {
    if (inner == 1) {
      if (momentsChannelsLast(x, xOffset, outer, channels, mean, meanResidual, variance)) return;
    } else {
      momentsChannelsFirst(x, xOffset, outer, channels, inner, mean, variance);
      ScalarBatchNormSupport.addPivots(x, xOffset, channels, inner, mean, meanResidual);
      ScalarBatchNormSupport.toVariance(variance, channels, (double) outer * inner);
    }
    // The scalar per-channel finite test cost 1.5 µs at 1024 channels (as much as 14 rows of NC 256x1024's
    // statistics); one branch-free pass decides that no channel needs it.
    if (!allFinite(mean, variance, channels, (long) outer * channels * inner <= SHORT_CALL_FLOATS)) {
      ScalarBatchNormSupport.redoNonFinite(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
    }
  }

  /**
   * Whether {@code a[0, n)} and {@code b[0, n)} are all finite. Short calls ({@link #SHORT_CALL_FLOATS}: compiled by C2
   * at once) add {@code v - v} (0 or NaN) in vectors; C2 does not vectorize the scalar test
   * ({@link ScalarBatchNormSupport#allFinite}: its raw-bits conversion), which long calls keep (few calls run in C1,
   * where vectors are objects).
   */
  static boolean allFinite(float[] a, float[] b, int n, boolean shortCall) {
    if (!shortCall) return ScalarBatchNormSupport.allFinite(a, 0, n) && ScalarBatchNormSupport.allFinite(b, 0, n);
    FloatVector check = FloatVector.zero(SPECIES);
    int c = 0;
    for (; c < SPECIES.loopBound(n); c += LANES) {
      FloatVector u = FloatVector.fromArray(SPECIES, a, c), v = FloatVector.fromArray(SPECIES, b, c);
      check = check.add(u.sub(u)).add(v.sub(v));
    }
    float rest = 0; // lanes and rest are +0 or NaN: any order gives the same answer
    for (; c < n; c++) rest += (a[c] - a[c]) + (b[c] - b[c]);
    return check.reduceLanes(VectorOperators.ADD) + rest == 0f;
  }

  /** {@link #moments} on plain native memory, byte offsets: a second body of these kernels ({@link PanamaNativeMoments}). */
  @Override
  public boolean momentsNative(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean,
                               float[] meanResidual, float[] variance) {
    return PanamaNativeMoments.moments(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
  }

  /**
   * Rows narrower than this are grouped into super rows at least this wide: each 4-row step costs every
   * vector position a load-add-store round trip through scratch, and eight or more positions per row
   * keep those dependency chains overlapped.
   */
  private static final int MIN_ROW_FLOATS = 16 * LANES;

  /**
   * When channels is not a multiple of the lanes, lcm(channels, LANES) floats (a whole number of rows)
   * fill whole vectors, so rows of up to this many floats (4 KiB per scratch slot) need no channel tail.
   * Wider rows with a ragged end load one extra vector ending at the row's end instead.
   */
  private static final int MAX_SUPER_FLOATS = 1024;

  /**
   * Floats per one-pass block (512 KiB): the block's shifted sums are merged once, and a redo re-reads it
   * from L2 (1 MiB or more on current cores). Longer quarters stream better: 128 Ki floats ran at 100-104%
   * of a plain read where 32 Ki ran at 97-100%.
   */
  static final int ONE_PASS_BLOCK_FLOATS = 128 * 1024;

  /**
   * Calls on at most this many floats (2 MiB: in-cache tensors such as NC 256x1024) take the per-call steps
   * outside the hot loop (first pivots, fold, finite check) as Vector API loops. Such calls are short and
   * frequent, so C2 compiles them at once; a few long calls would run them in C1, where vectors are objects
   * (the reason those steps are scalar Java).
   */
  static final int SHORT_CALL_FLOATS = 512 * 1024;

  /** Rows per block at least (so the per-block merge stays a small part of the work) and at most (float sums stay short). */
  static final int MIN_BLOCK_ROWS = 64, MAX_BLOCK_ROWS = 1024;

  /**
   * Cancellation guard. One-pass {@code M2 = S2 - S1^2/n} of values shifted by a pivot loses
   * log2(S2 / M2) bits to cancellation; a block that would lose more than 3 is redone two-pass (from L2).
   * The first block pivots on the mean of the first rows, later ones on the running mean, so only data
   * whose first rows are outliers, or whose mean drifts between blocks, ever take the redo.
   */
  static final float CANCELLATION_LIMIT = 8f;

  /**
   * Channels-last moments in one read of each block. A super row is {@code rowsPerSuper} rows laid end to
   * end ({@code width} floats, a multiple of the lanes), or one row whose last {@code channels % LANES}
   * channels come from an extra vector loaded at {@code channels - LANES} ("tail"). Every vector
   * position of a super row keeps its own running (mean - pivot, M2) in scratch, laid out
   * {@code [pivot0 | pivot | S1 | S2 | mean | M2]} with {@code P} floats each. Per block, rows are read in
   * memory order, four at a time, adding {@code S1 = sum(x - pivot)} and {@code S2 = sum((x - pivot)^2)}
   * into scratch; then the block's moments merge with Chan's formula and the pivot moves to the
   * running mean. The positions of each channel fold into its mean and variance in double at the end.
   * Returns true when it has already checked that every mean and variance is finite (the short calls'
   * vector fold), so {@link #moments} skips its scan.
   */
  private static boolean momentsChannelsLast(float[] x, int xOffset, int rows, int channels, float[] mean, float[] meanResidual,
                                             float[] variance) {
    int superWidth = momentsWidth(channels, (long) rows * channels);
    boolean tail = superWidth < 0;
    int width = tail ? SPECIES.loopBound(channels) : superWidth;
    int rowsPerSuper = tail ? 1 : width / channels;
    int superRows = rows / rowsPerSuper;
    int positions = width + (tail ? LANES : 0);
    float[] s = Scratch.borrow(6 * positions);
    try {
      boolean shortCall = (long) rows * channels <= SHORT_CALL_FLOATS;
      if (superRows > 0) {
        momentsBlocks(x, xOffset, superRows, rowsPerSuper * channels, width, tail ? channels - LANES : -1, positions, s, shortCall);
      }
      if (shortCall && (tail || width == channels) && superRows == rows && rows > 0) {
        return foldOnePositionPerChannel(s, channels, positions, width, rows, mean, meanResidual, variance);
      }
      foldPositions(x, xOffset, rows, channels, superRows, rowsPerSuper, width, tail, positions, s, mean, meanResidual, variance);
      return false;
    } finally {
      Scratch.release(s);
    }
  }

  /**
   * Floats of a super row: a multiple of both the lanes and {@code channels}, at least
   * {@link #MIN_ROW_FLOATS}; -1 when that would exceed {@link #MAX_SUPER_FLOATS} (rows are then used as
   * they are, with a channel tail).
   */
  static int superWidth(int channels) {
    int width = channels / gcd(channels, LANES) * LANES;
    if (channels % LANES != 0 && width > MAX_SUPER_FLOATS) return -1;
    while (width < MIN_ROW_FLOATS) width *= 2;
    return width;
  }

  /** Calls on at most this many floats (64 KiB) take the moments over super rows of lcm(channels, LANES): {@link #momentsWidth}. */
  static final int SMALL_MOMENTS_FLOATS = 16 * 1024;

  /**
   * The moments' super row ({@link #momentsChannelsLast}, and the native body's, which must agree): {@link #superWidth},
   * or for calls of at most {@link #SMALL_MOMENTS_FLOATS} the lcm of the channels and the lanes as it is. The widening
   * to {@link #MIN_ROW_FLOATS} keeps a long call's scratch round trips overlapped; a small call has few rows to overlap,
   * and its fold costs a few double operations per position: NC 32x64 folded 256 positions (4 a channel) where 64
   * serve, then one a channel, the vector fold. Every position still sums whole rows, so the accuracy is the same.
   */
  static int momentsWidth(int channels, long total) {
    int width = superWidth(channels);
    return width < 0 || total > SMALL_MOMENTS_FLOATS ? width : channels / gcd(channels, LANES) * LANES;
  }

  /** Repeats {@code count} per-channel arrays of {@code s} (at {@code from}, {@code channels} apart) over a super row at {@code to}. */
  static void tilePattern(float[] s, int from, int channels, int count, int to, int width) {
    tilePattern(s, from, channels, count, to, width, 0);
  }

  /**
   * {@link #tilePattern(float[], int, int, int, int, int)} for a pass that starts at channel {@code first}: position
   * {@code j} of the super row holds channel {@code (first + j) % channels}.
   */
  static void tilePattern(float[] s, int from, int channels, int count, int to, int width, int first) {
    for (int a = 0; a < count; a++) {
      int src = from + a * channels, dst = to + a * width;
      // One period (channels floats from channel first), then doubled (tileFilled).
      System.arraycopy(s, src + first, s, dst, channels - first);
      System.arraycopy(s, src, s, dst + channels - first, first);
      tileFilled(s, dst, channels, width);
    }
  }

  /**
   * Repeats {@code s[at, at + period)} over {@code s[at, at + length)} by doubling the filled part: the period divides
   * every copied length, so the values are those of a period-by-period copy, in log2(length / period) + 1 copies
   * instead of length / period (256 copies of one float at 1 channel and 16 lanes, most of a 1x1 call's JFR samples:
   * docs/performance-history.md, thirtieth session).
   */
  static void tileFilled(float[] s, int at, int period, int length) {
    for (int filled = period; filled < length; filled *= 2) System.arraycopy(s, at, s, at + filled, Math.min(filled, length - filled));
  }

  /**
   * The byte offset of a {@code float[]}'s element 0 from the array's start, read from the running VM's object layout
   * ({@link VectorizationProvider#floatArrayBaseBytes}: 16 by default, 12 with compact object headers, 20 without
   * compressed class pointers). See {@link #head}.
   * A constant at 16 put every head 4 bytes off under {@code -XX:+UseCompactObjectHeaders}, so every vector load of the
   * heads' passes and of the statistics' rebuilt loads ({@link #accumulate4Aligned}) spanned two lines again. In a JVM
   * with compact headers, the right guess against 16 (switched on and off in one JVM, 21 alternating rounds, same bits;
   * AVX-512 EPYC, Zen 5 class; medians of the paired ratios): statistics NC 8192x256 0.90, NHWC 32x14x14x256 0.94,
   * NHWC 32x56x56x32 0.81, NHWC 64x56x56x64 0.67; training forward NC 8192x256 0.78, NHWC 32x14x14x256 0.81,
   * 32x56x56x32 0.84, 64x56x56x64 0.85; inference NC 256x1024 0.89, 8192x256 0.72, NHWC 32x14x14x256 0.76; backward
   * NC 8192x256 0.88, NHWC 32x14x14x256 0.87; the rest 0.96-1.00.
   */
  static final int ARRAY_BASE_BYTES = VectorizationProvider.floatArrayBaseBytes();

  /** Calls on fewer floats than this (512 KiB) compute no head ({@link #head(int, int)}): 128 Ki floats gained, 64 Ki did not. */
  static final int HEAD_MIN_FLOATS = 128 * 1024;

  /** Bytes the elementwise passes align their vectors to: a cache line, or the vector when it is shorter. */
  static final int ALIGN_BYTES = Math.min(64, 4 * LANES);

  /**
   * Floats an elementwise channels-last pass over a {@code float[]} from element {@code offset} computes one at a
   * time before its vector loop, so that the loop's vectors start on a line: the array's own start is assumed on a
   * line ({@link #ARRAY_BASE_BYTES} before element 0), as G1 places every array of half a region or more (every
   * tensor past L2) at a region's start. Then element 0 of such an array is 16 bytes past a line and, at 16 lanes,
   * every vector load from offset 0 spans two lines. The elements are independent, so where the vectors start changes
   * no bit; for an array placed elsewhere the guess costs at most {@code ALIGN_BYTES / 4 - 1} scalar elements.
   * None for calls under {@link #HEAD_MIN_FLOATS}.
   *
   * <p>Measured with the head switched on and off in one JVM, alternating (41 rounds, same arrays and scratch; AVX-512
   * EPYC, Zen 5 class; offset 0; head/none medians): inference NC 256x1024 0.891, 8192x256 0.834, 6272x256 (NHWC
   * 32x14x14x256) 0.878, 1568x2048 0.951, 100352x32 0.974; backward 0.939, 0.915, 0.948, 0.878, 0.986; training
   * forward NC 256x1024 0.936; a native segment 16 bytes past a line, inference NC 256x1024 0.892, 6272x256 0.813.
   * At offset 12 (already on a line, no head) 1.002. Calls of 64 Ki floats or fewer read 0.99-1.13 (NC 32x64 1.127,
   * 256x256 1.036, 64x1024 1.012): the rotated pattern and the scalar floats cost more than the split loads.
   */
  static int head(int offset, int total) {
    return total < HEAD_MIN_FLOATS ? 0 : Math.min(total, lineHead(offset));
  }

  /**
   * {@link #head(int, int)} for a native segment from byte {@code offset}, whose address is known: the floats before the
   * first line boundary (none when the floats are not 4-byte aligned, which no boundary can fix).
   */
  static int head(MemorySegment x, long offset, long total) {
    long address = x.address() + offset;
    if (total < HEAD_MIN_FLOATS || !x.isNative() || (address & 3) != 0) return 0;
    return (int) Math.min(total, Math.floorMod(-address, (long) ALIGN_BYTES) / 4);
  }

  private static int gcd(int a, int b) {
    while (b != 0) {
      int t = a % b;
      a = b;
      b = t;
    }
    return a;
  }

  private static void momentsBlocks(float[] x, int xOffset, int superRows, int stride, int width, int tailAt, int positions,
                                    float[] s, boolean shortCall) {
    int P = positions;
    // First pivots: the mean of the first 1, 2, 4 or 8 super rows (a power of two: exact scaling, no
    // overflow). A single row would be 2.65 std off in some lane of a wide row nearly every time, and
    // that lane's block would need the two-pass redo.
    int k = Integer.highestOneBit(Math.min(8, superRows));
    if (shortCall) {
      firstPivotsVector(x, xOffset, stride, k, s, 0, width);
      if (tailAt >= 0) firstPivotsVector(x, xOffset + tailAt, stride, k, s, width, LANES);
    } else {
      firstPivots(x, xOffset, stride, k, s, 0, width);
      if (tailAt >= 0) firstPivots(x, xOffset + tailAt, stride, k, s, width, LANES);
    }
    System.arraycopy(s, 0, s, P, P);
    java.util.Arrays.fill(s, 2 * P, 4 * P, 0f);
    int blockRows = Math.min(MAX_BLOCK_ROWS, Math.max(MIN_BLOCK_ROWS, ONE_PASS_BLOCK_FLOATS / width));
    int h = tailAt < 0 ? lineHead(xOffset) : 0; // every super row starts h floats before a line (stride: whole vectors)
    for (int b0 = 0; b0 < superRows; b0 += blockRows) {
      int n = Math.min(blockRows, superRows - b0), base = xOffset + b0 * stride;
      accumulateBlock(x, base, stride, n, width, tailAt, P, s, h);
      blockMoments(x, base, stride, n, width, tailAt, P, s);
      mergeBlocks(s, P, n, b0);
    }
  }

  /**
   * {@code s[pos + c] = sum over r < rows of x[at + r * stride + c] * scale}, rows in order, for {@code c < n}: the
   * same float operations per position as a vector lane's {@code x.mul(scale).add(sum)} from zero (so the same bits
   * as the native body's vector {@code firstPivot}). Scalar Java on purpose: it runs once a call, so on a large
   * tensor's few calls it stays in C1 for a long time, where Vector API values are objects. As vectors it cost
   * 51 KB a call under -prof gc on NHWC 64x56x56x64 training forward (15 ms calls; 54 KB in statistics with the
   * four-position form): C2 vectorizes this loop once it compiles it, and C1 allocates nothing for it.
   */
  private static void firstPivots(float[] x, int at, int stride, int rows, float[] s, int pos, int n) {
    float scale = 1f / rows;
    for (int c = 0; c < n; c++) s[pos + c] = x[at + c] * scale + 0f;
    for (int r = 1; r < rows; r++) {
      int p = at + r * stride;
      for (int c = 0; c < n; c++) s[pos + c] = x[p + c] * scale + s[pos + c];
    }
  }

  /**
   * {@link #firstPivots} as vectors ({@code n} a multiple of the lanes): the same float operations per
   * lane ({@code x * scale} rounded, then added), so the same bits. C2 does not vectorize the scalar loop
   * (it cannot rule out that {@code s} is {@code x}), and at 1024 channels it took 2.1 µs a call against
   * 0.4 µs for this, ~8% of NC 256x1024's statistics (nc13's in-JVM probe of the parts). Used for
   * {@link #SHORT_CALL_FLOATS short calls} only, which run often enough to reach C2 at once; see
   * {@link #firstPivots} for why long calls keep the scalar loop.
   */
  private static void firstPivotsVector(float[] x, int at, int stride, int rows, float[] s, int pos, int n) {
    float scale = 1f / rows;
    for (int c = 0; c < n; c += LANES) {
      FloatVector sum = FloatVector.fromArray(SPECIES, x, at + c).mul(scale).add(0f);
      for (int r = 1; r < rows; r++) sum = FloatVector.fromArray(SPECIES, x, at + r * stride + c).mul(scale).add(sum);
      sum.intoArray(s, pos + c);
    }
  }

  /**
   * The hot loop: S1 and S2 of {@code n} super rows, four rows per step, positions in memory order. The
   * four rows of a step are a quarter of the block apart, so each of the four loads walks its own
   * contiguous quarter: four long forward streams. Four adjacent rows (1 KiB apart at 256 floats) ran at
   * 88-95% of a plain read on NHWC 64x56x56x64 and NC 8192x256, quarters at 97-104% (cl10's interleaved
   * in-JVM runs; README "How the kernels work").
   */
  private static void accumulateBlock(float[] x, int base, int stride, int n, int width, int tailAt, int P, float[] s, int h) {
    int q = n / 4, quarter = q * stride, p = base;
    for (int r = 0; r < q; r++, p += stride) {
      if (tailAt < 0 && p + h >= LANES && p + 3 * quarter + width + h <= x.length) { // line-aligned loads, the same lanes
        accumulate4Aligned(x, p, quarter, width, s, P, h);
        continue;
      }
      for (int c = 0; c < width; c += LANES) accumulate4(x, p + c, quarter, s, c, P);
      if (tailAt >= 0) accumulate4(x, p + tailAt, quarter, s, width, P);
    }
    for (int r = 4 * q, e = base + 4 * quarter; r < n; r++, e += stride) { // the last rows, one at a time
      for (int c = 0; c < width; c += LANES) accumulate1(x, e + c, s, c, P);
      if (tailAt >= 0) accumulate1(x, e + tailAt, s, width, P);
    }
  }

  private static void accumulate4(float[] x, int at, int stride, float[] s, int pos, int P) {
    FloatVector k = FloatVector.fromArray(SPECIES, s, P + pos);
    FloatVector d0 = FloatVector.fromArray(SPECIES, x, at).sub(k);
    FloatVector d1 = FloatVector.fromArray(SPECIES, x, at + stride).sub(k);
    FloatVector d2 = FloatVector.fromArray(SPECIES, x, at + 2 * stride).sub(k);
    FloatVector d3 = FloatVector.fromArray(SPECIES, x, at + 3 * stride).sub(k);
    FloatVector.fromArray(SPECIES, s, 2 * P + pos).add(d0.add(d1).add(d2.add(d3))).intoArray(s, 2 * P + pos);
    d3.fma(d3, d2.fma(d2, d1.fma(d1, d0.fma(d0, FloatVector.fromArray(SPECIES, s, 3 * P + pos))))).intoArray(s, 3 * P + pos);
  }

  /**
   * {@link #accumulate4} over a whole super row ({@code width} floats at {@code p} and three quarters on), from loads
   * that start on a line ({@code h} floats after {@code p}, {@link #lineHead}): each of the four streams keeps its
   * previous aligned vector, and the vector at {@code p + c} is rebuilt from it and the next one by a two-vector
   * {@code selectFrom} (one permute on AVX-512). The same lanes, so the same operations on the same values: the same
   * bits (unlike moving the grid, which would change which floats a lane adds). The caller makes sure the line before
   * {@code p} and the {@code h} floats after the last quarter's row are inside {@code x}. With {@code h = 0} (already on
   * a line) the index picks the next vector whole; super rows take this loop then too: a loop over the row's positions
   * inside one method ran the statistics 1.3-1.6x faster at offset 12 than {@link #accumulate4} called per position
   * (AlignmentProbe kernels, one JVM: NC 256x1024 28.5 to 17.3 µs, 8192x256 189 to 136, NHWC 32x14x14x256 143 to 105).
   * {@link #accumulate4} remains for rows with a ragged tail and for the first and last steps the bounds exclude.
   *
   * <p>Why: a large {@code float[]} at offset 0 starts 16 bytes past a line ({@link #head}), and at 16 lanes every load
   * of the per-position loop then spans two lines. Switched on and off in one JVM (41 alternating rounds, same arrays;
   * AVX-512 EPYC, Zen 5 class; offset 0; on/off medians, same bits checked): statistics NC 256x1024 0.486, 8192x256
   * 0.677, 6272x256 0.688, 1568x2048 0.763, 100352x32 0.802, 200704x64 (51 MB) 0.768, 64x256 0.791, 1183x17 0.868,
   * 100x100 0.873, 32x64 0.990; training forward NC 256x1024 0.805, 8192x256 0.868. A plain read rebuilt this way ran
   * at the speed of aligned loads (8 MB: 107 against 108 µs aligned and 135 µs unaligned; a one-source
   * {@code slice} instead took 115 µs, and 1.07x the unaligned loads on 1 MiB).
   */
  private static void accumulate4Aligned(float[] x, int p, int quarter, int width, float[] s, int P, int h) {
    FloatVector idx = lineIndex(h);
    int a0 = p + h, a1 = a0 + quarter, a2 = a1 + quarter, a3 = a2 + quarter;
    FloatVector v0 = FloatVector.fromArray(SPECIES, x, a0 - LANES), v1 = FloatVector.fromArray(SPECIES, x, a1 - LANES);
    FloatVector v2 = FloatVector.fromArray(SPECIES, x, a2 - LANES), v3 = FloatVector.fromArray(SPECIES, x, a3 - LANES);
    for (int c = 0; c < width; c += LANES) {
      FloatVector k = FloatVector.fromArray(SPECIES, s, P + c);
      FloatVector n0 = FloatVector.fromArray(SPECIES, x, a0 + c), n1 = FloatVector.fromArray(SPECIES, x, a1 + c);
      FloatVector n2 = FloatVector.fromArray(SPECIES, x, a2 + c), n3 = FloatVector.fromArray(SPECIES, x, a3 + c);
      FloatVector d0 = idx.selectFrom(v0, n0).sub(k), d1 = idx.selectFrom(v1, n1).sub(k);
      FloatVector d2 = idx.selectFrom(v2, n2).sub(k), d3 = idx.selectFrom(v3, n3).sub(k);
      v0 = n0;
      v1 = n1;
      v2 = n2;
      v3 = n3;
      FloatVector.fromArray(SPECIES, s, 2 * P + c).add(d0.add(d1).add(d2.add(d3))).intoArray(s, 2 * P + c);
      d3.fma(d3, d2.fma(d2, d1.fma(d1, d0.fma(d0, FloatVector.fromArray(SPECIES, s, 3 * P + c))))).intoArray(s, 3 * P + c);
    }
  }

  /** 0, 1, 2, ...: {@link #lineIndex} builds its vectors from it (vectors are never held in statics). */
  private static final float[] IOTA = iota();

  /**
   * The two-vector {@code selectFrom} index that rebuilds the vector starting {@code h} floats before a line from the
   * aligned vector before that line and the one after it ({@code LANES - h}, {@code LANES - h + 1}, ...): the rebuilt
   * line-aligned loads of {@link #accumulate4Aligned}, {@link #fourRowsOnLines} and layer and RMS norm's rows
   * (PanamaLayerNormSupport). With {@code h = 0} it selects the second vector whole. A few bytecodes, so C2 inlines it
   * and the vector it returns is not boxed (as PanamaFusedRelu's {@code masked}).
   */
  static FloatVector lineIndex(int h) {
    return FloatVector.fromArray(SPECIES, IOTA, 0).add((float) (LANES - h));
  }

  private static float[] iota() {
    float[] a = new float[LANES];
    for (int i = 0; i < LANES; i++) a[i] = i;
    return a;
  }

  /** Floats from element {@code offset} of a {@code float[]} to the first line boundary, as {@link #head(int, int)} guesses it (no size threshold). */
  static int lineHead(int offset) {
    int aligned = (ALIGN_BYTES - ARRAY_BASE_BYTES % ALIGN_BYTES) % ALIGN_BYTES / 4; // first element on an alignment boundary
    return Math.floorMod(aligned - offset, ALIGN_BYTES / 4);
  }

  private static void accumulate1(float[] x, int at, float[] s, int pos, int P) {
    FloatVector d = FloatVector.fromArray(SPECIES, x, at).sub(FloatVector.fromArray(SPECIES, s, P + pos));
    FloatVector.fromArray(SPECIES, s, 2 * P + pos).add(d).intoArray(s, 2 * P + pos);
    d.fma(d, FloatVector.fromArray(SPECIES, s, 3 * P + pos)).intoArray(s, 3 * P + pos);
  }

  /**
   * Turns the block's S1, S2 (in place) into its mean relative to pivot0 and its M2. A vector position
   * where some lane lost more bits to cancellation than {@link #CANCELLATION_LIMIT} allows (or whose M2
   * went negative) is redone two-pass. {@code S1 * (S1 / n)} rather than {@code S1 * S1 / n}: the square
   * alone may overflow while M2 does not.
   */
  private static void blockMoments(float[] x, int base, int stride, int n, int width, int tailAt, int P, float[] s) {
    float invN = 1f / n;
    for (int c = 0; c < P; c += LANES) {
      FloatVector s1 = FloatVector.fromArray(SPECIES, s, 2 * P + c), s2 = FloatVector.fromArray(SPECIES, s, 3 * P + c);
      FloatVector shift = s1.mul(invN);
      FloatVector m2 = s2.sub(s1.mul(shift));
      if (s2.compare(VectorOperators.GT, m2.mul(CANCELLATION_LIMIT)).anyTrue()) {
        twoPassPosition(x, base + (c < width ? c : tailAt), stride, n, s, c, P);
        continue;
      }
      FloatVector.fromArray(SPECIES, s, P + c).sub(FloatVector.fromArray(SPECIES, s, c)).add(shift).intoArray(s, 2 * P + c);
      m2.intoArray(s, 3 * P + c);
    }
  }

  /**
   * The cold redo of one vector position whose one-pass sums cancelled: corrected two-pass moments
   * (center from a first pass relative to pivot0, then deviations and squares; the block is in cache),
   * written as {@link #blockMoments} writes them.
   */
  private static void twoPassPosition(float[] x, int start, int stride, int n, float[] s, int c, int P) {
    float invN = 1f / n;
    FloatVector k0 = FloatVector.fromArray(SPECIES, s, c);
    FloatVector sum = FloatVector.zero(SPECIES);
    for (int r = 0, p = start; r < n; r++, p += stride) sum = sum.add(FloatVector.fromArray(SPECIES, x, p).sub(k0));
    FloatVector center = k0.add(sum.mul(invN));
    FloatVector sumD = FloatVector.zero(SPECIES), sumD2 = FloatVector.zero(SPECIES);
    for (int r = 0, p = start; r < n; r++, p += stride) {
      FloatVector d = FloatVector.fromArray(SPECIES, x, p).sub(center);
      sumD = sumD.add(d);
      sumD2 = d.fma(d, sumD2);
    }
    FloatVector shift = sumD.mul(invN);
    center.sub(k0).add(shift).intoArray(s, 2 * P + c);
    sumD2.sub(sumD.mul(shift)).max(FloatVector.zero(SPECIES)).intoArray(s, 3 * P + c);
  }

  /** Chan's merge of each position's block (mean - pivot0, M2) into its running state; pivot := running mean. */
  static void mergeBlocks(float[] s, int P, int n, int done) {
    FloatVector wBlock = FloatVector.broadcast(SPECIES, n / ((float) done + n));
    FloatVector wCross = FloatVector.broadcast(SPECIES, (float) done * n / ((float) done + n));
    for (int c = 0; c < P; c += LANES) {
      FloatVector blockMean = FloatVector.fromArray(SPECIES, s, 2 * P + c), blockM2 = FloatVector.fromArray(SPECIES, s, 3 * P + c);
      FloatVector runMean, runM2;
      if (done == 0) {
        runMean = blockMean;
        runM2 = blockM2;
      } else {
        runMean = FloatVector.fromArray(SPECIES, s, 4 * P + c);
        FloatVector delta = blockMean.sub(runMean);
        runMean = delta.fma(wBlock, runMean);
        runM2 = delta.mul(delta).fma(wCross, FloatVector.fromArray(SPECIES, s, 5 * P + c).add(blockM2));
      }
      runMean.intoArray(s, 4 * P + c);
      runM2.intoArray(s, 5 * P + c);
      FloatVector.fromArray(SPECIES, s, c).add(runMean).intoArray(s, P + c);
    }
    java.util.Arrays.fill(s, 2 * P, 4 * P, 0f);
  }

  /**
   * Per channel, in double: its positions hold equal counts, so they merge without divisions (mean of
   * the means; M2 = sum of M2 + count * sum of squared mean deviations); then the rows that do not fill
   * a super row, two-pass, merged with Chan's formula. Writes mean and the biased variance.
   *
   * <p>The sums run over a group of positions at a time ({@code group}: the channels, or for fewer channels than
   * lanes lcm(channels, LANES), which divides the super row), each position of the group with its own double
   * accumulator in pooled scratch, and the group's accumulators of a channel are added at the end. Every accumulator
   * is an independent chain, so the loops run at the adds' throughput, not one double add's latency per position as
   * the channel-by-channel loops they replace did, which took most of a small call's JFR samples (NC 256x3, 128
   * positions a channel; NC 300x1, 256; AVX-512 EPYC; SmallCalls training forward, start / end of the thirtieth
   * session with the other small-call changes: 3872 / 1154 and 5512 / 847 ns).
   * From LANES channels on the group is the channels, each channel's positions and rest rows are added in increasing
   * order, and the bits are the old loops'; narrower channels add their sums in a different order (in double).
   */
  static void foldPositions(float[] x, int xOffset, int rows, int channels, int superRows, int rowsPerSuper, int width,
                                    boolean tail, int P, float[] s, float[] mean, float[] meanResidual, float[] variance) {
    // A tail super row is one row, so tail calls have one position per channel too: from width on, a channel's
    // position is in the extra vector loaded at channels - LANES and kept at width.
    int split = tail ? width : channels, tailShift = width - (channels - LANES);
    if ((tail || width == channels) && superRows == rows && rows > 0 && rows < (1 << 24)) {
      // One position per channel and no leftover rows: the double fold below then reduces to
      // mean = pivot0 + runMean and variance = M2 / rows, one float + and one float / each (its spread term is
      // 0). The double sum of two floats is exact (or off far below half a float ulp), and rounding through double
      // is innocuous for + and / of floats, so this float form gives the same bits. It matters for short calls (a
      // 32-row chunk of 1024 channels): the scalar per-channel fold was a large part of their fixed cost. Float
      // loops that C2 vectorizes, not Vector API code: this runs once a call, so on a large tensor's few calls it
      // stayed in C1, where vectors are objects (NC 8192x256 training forward 9.2 KB a call under -prof gc, ~0 now).
      // The residual is the same double sum minus its float rounding (ParallelBatchNorm's chunks ask for it).
      float n = rows;
      foldOnePosition(s, P, n, mean, meanResidual, variance, 0, split, 0);
      if (tail) foldOnePosition(s, P, n, mean, meanResidual, variance, split, channels, tailShift);
      return;
    }
    int perChannel = tail ? 1 : width / channels, restFrom = superRows * rowsPerSuper;
    double perPosition = superRows, count = (double) superRows * perChannel, invPerChannel = 1.0 / perChannel, rest = rows - restFrom;
    int group = tail || channels >= LANES ? channels : channels / gcd(channels, LANES) * LANES;
    // [a | b | q] per group position, then [m | m2 | restMean | restSq] per channel
    int b = group, q = 2 * group, m = 3 * group, m2 = m + channels, rm = m2 + channels, rq = rm + channels;
    double[] d = Scratch.borrowDoubles(rq + channels);
    try {
      java.util.Arrays.fill(d, 0, rq + channels, 0.0);
      if (superRows > 0) {
        int blocks = tail ? 1 : width / group;
        positionMeans(s, P, d, 0, tail ? split : group, 0, blocks, group);
        if (tail) positionMeans(s, P, d, split, channels, tailShift, 1, 0);
        foldGroups(d, 0, group, channels, m);
        for (int c = 0; c < channels; c++) d[m + c] *= invPerChannel;
        expandGroups(d, m, group, channels, 0); // a now holds each position's channel mean
        positionSpreads(s, P, d, group, 0, tail ? split : group, 0, blocks, group);
        if (tail) positionSpreads(s, P, d, group, split, channels, tailShift, 1, 0);
        foldGroups(d, b, group, channels, m2);
        foldGroups(d, q, group, channels, rq); // the spread, parked in restSq
        for (int c = 0; c < channels; c++) d[m2 + c] += perPosition * d[rq + c];
      }
      if (rest > 0) { // rows that do not fill a super row, two-pass (they start on a group: restFrom * channels is whole super rows)
        int at = xOffset + restFrom * channels, n = (rows - restFrom) * channels;
        java.util.Arrays.fill(d, 0, 3 * group, 0.0);
        for (int i = 0; i < n; i += group) {
          for (int j = 0, e = Math.min(group, n - i); j < e; j++) d[j] += x[at + i + j];
        }
        foldGroups(d, 0, group, channels, rm);
        for (int c = 0; c < channels; c++) d[rm + c] /= rest; // now the rest rows' mean
        expandGroups(d, rm, group, channels, b);
        for (int i = 0; i < n; i += group) {
          for (int j = 0, e = Math.min(group, n - i); j < e; j++) {
            double dev = x[at + i + j] - d[b + j];
            d[q + j] += dev * dev;
          }
        }
        foldGroups(d, q, group, channels, rq);
        double total = count + rest;
        for (int c = 0; c < channels; c++) {
          double delta = d[rm + c] - d[m + c];
          d[m + c] += delta * (rest / total);
          d[m2 + c] += d[rq + c] + delta * delta * (count * rest / total);
        }
      }
      for (int c = 0; c < channels; c++) {
        mean[c] = (float) d[m + c];
        if (meanResidual != null) meanResidual[c] = (float) (d[m + c] - mean[c]);
        variance[c] = (float) (d[m2 + c] / rows);
      }
    } finally {
      Scratch.releaseDoubles(d);
    }
  }

  /** {@link #foldPositions}' one-position fold of channels [from, to), whose positions are {@code shift} on. */
  private static void foldOnePosition(float[] s, int P, float n, float[] mean, float[] meanResidual, float[] variance,
                                      int from, int to, int shift) {
    for (int c = from; c < to; c++) mean[c] = s[c + shift] + s[4 * P + c + shift];
    for (int c = from; c < to; c++) variance[c] = s[5 * P + c + shift] / n;
    if (meanResidual != null) {
      for (int c = from; c < to; c++) meanResidual[c] = (float) ((double) s[c + shift] + s[4 * P + c + shift] - mean[c]);
    }
  }

  /**
   * Adds the position means ({@code pivot0 + runMean}) into {@code d[j]}, j in [from, to): {@code count} blocks of
   * positions {@code stride} apart, position {@code shift + j} in the first.
   */
  private static void positionMeans(float[] s, int P, double[] d, int from, int to, int shift, int count, int stride) {
    for (int k = 0, at = shift; k < count; k++, at += stride) {
      for (int j = from; j < to; j++) d[j] += (double) s[at + j] + s[4 * P + at + j];
    }
  }

  /**
   * {@link #positionMeans}' positions: their M2 into {@code d[group + j]} and their squared deviations from the
   * channel mean ({@code d[j]}) into {@code d[2 * group + j]}.
   */
  private static void positionSpreads(float[] s, int P, double[] d, int group, int from, int to, int shift, int count, int stride) {
    for (int k = 0, at = shift; k < count; k++, at += stride) {
      for (int j = from; j < to; j++) {
        double e = (double) s[at + j] + s[4 * P + at + j] - d[j];
        d[group + j] += s[5 * P + at + j];
        d[2 * group + j] += e * e;
      }
    }
  }

  /** Channel c's group positions ({@code c, c + channels, ...} below {@code group}) of {@code d} from {@code from}, added in order into {@code d[to + c]}. */
  private static void foldGroups(double[] d, int from, int group, int channels, int to) {
    if (group == channels) { // one position each: 0 + v is v (no sum here is -0: they all start at +0)
      System.arraycopy(d, from, d, to, channels);
      return;
    }
    for (int c = 0; c < channels; c++) {
      double sum = 0;
      for (int j = c; j < group; j += channels) sum += d[from + j];
      d[to + c] = sum;
    }
  }

  /** {@code d[to + j] = d[from + j % channels]} for the group's positions. */
  private static void expandGroups(double[] d, int from, int group, int channels, int to) {
    for (int j = 0; j < group; j += channels) System.arraycopy(d, from, d, to + j, channels);
  }

  /**
   * {@link #foldPositions}' one-position-per-channel branch as vectors, for short calls: {@code mean = pivot0 + runMean}
   * and {@code variance = M2 / rows}, the same float operations, so the same bits (a tail call's last channels, under
   * a vector, as foldPositions does them). C2 vectorizes neither scalar loop
   * (the outputs might be {@code s}): 1.5 µs a call at 1024 channels against ~0.2. It also does the finite test the
   * caller would otherwise scan for ({@code v - v} is 0 for finite {@code v}, NaN otherwise, and the sum of those
   * stays 0 or NaN): returns true when every mean and variance is finite, false when
   * {@link ScalarBatchNormSupport#redoNonFinite} must look (it zeroes the residual of the channels it redoes).
   *
   * <p>The mean residual ({@code ParallelBatchNorm}'s chunks ask for it, for their merge) is foldPositions' expression,
   * {@code (float) ((double) pivot0 + runMean - mean)}: the vector loop parks {@code runMean} in the residual array,
   * so the loop after it reads all its operands at the residual's own index, and C2 vectorizes it. Taking the
   * residual to foldPositions' scalar loops and the caller's two finite scans cost a 128x1024 chunk 6.3-6.6 µs of its
   * 22 (par17's probe, one thread, in cache), a quarter of each thread's moments in a 2-thread NC 256x1024 forward.
   */
  static boolean foldOnePositionPerChannel(float[] s, int channels, int P, int width, int rows, float[] mean, float[] meanResidual,
                                           float[] variance) {
    float n = rows;
    FloatVector check = FloatVector.zero(SPECIES);
    for (int c = 0; c < width; c += LANES) { // width is a multiple of the lanes
      FloatVector runMean = FloatVector.fromArray(SPECIES, s, 4 * P + c);
      FloatVector m = FloatVector.fromArray(SPECIES, s, c).add(runMean);
      FloatVector v = FloatVector.fromArray(SPECIES, s, 5 * P + c).div(n);
      m.intoArray(mean, c);
      v.intoArray(variance, c);
      if (meanResidual != null) runMean.intoArray(meanResidual, c);
      check = check.add(m.sub(m)).add(v.sub(v));
    }
    if (meanResidual != null) {
      for (int c = 0; c < width; c++) meanResidual[c] = (float) ((double) s[c] + meanResidual[c] - mean[c]);
    }
    // A tail call's last channels (fewer than the lanes) sit in the extra vector kept at width: foldPositions' loop.
    float rest = 0;
    if (width < channels) {
      foldOnePosition(s, P, n, mean, meanResidual, variance, width, channels, width - (channels - LANES));
      for (int c = width; c < channels; c++) rest += (mean[c] - mean[c]) + (variance[c] - variance[c]);
    }
    // Lanes are +0 or NaN, so any order of adding them gives the same answer; reduceLanes is an intrinsic C2 always
    // inlines. sumLanes is a method of ours: where C2 did not inline it here (group norm's channels-last forward,
    // NHWC 32x196x256 with 32 groups after ten other shapes in one JVM), `check` was boxed to be passed, 96 B a
    // call of this method (twenty-fourth session, GroupNorm allocation sweep).
    return check.reduceLanes(VectorOperators.ADD) + rest == 0f;
  }

  /** Means relative to each channel's first element (the caller adds it: {@link ScalarBatchNormSupport#addPivots}) and M2. */
  private static void momentsChannelsFirst(float[] x, int xOffset, int outer, int channels, int inner,
                                           float[] mean, float[] m2) {
    // Outer slices first, channels inside: memory is read in order, so the prefetcher keeps up even
    // when slices are short (channel-major order stalls on a cache miss per slice).
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        int slice = xOffset + (o * channels + c) * inner;
        float pivot = x[xOffset + c * inner];
        for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
          int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0), base = slice + i0;
          float center = sumContiguous(x, base, n) / n;
          FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
          FloatVector d0 = FloatVector.zero(SPECIES), d1 = FloatVector.zero(SPECIES);
          FloatVector q0 = FloatVector.zero(SPECIES), q1 = FloatVector.zero(SPECIES);
          int upperBound = n - n % (2 * LANES);
          int i = 0;
          for (; i < upperBound; i += 2 * LANES) {
            FloatVector e0 = FloatVector.fromArray(SPECIES, x, base + i).sub(vCenter);
            FloatVector e1 = FloatVector.fromArray(SPECIES, x, base + i + LANES).sub(vCenter);
            d0 = d0.add(e0);
            d1 = d1.add(e1);
            q0 = e0.fma(e0, q0);
            q1 = e1.fma(e1, q1);
          }
          for (; i < SPECIES.loopBound(n); i += LANES) {
            FloatVector e0 = FloatVector.fromArray(SPECIES, x, base + i).sub(vCenter);
            d0 = d0.add(e0);
            q0 = e0.fma(e0, q0);
          }
          float sumD = sumLanes(d0.add(d1));
          float sumD2 = sumLanes(q0.add(q1));
          for (; i < n; i++) { // scalar tail
            float e = x[base + i] - center;
            sumD += e;
            sumD2 += e * e;
          }
          ScalarBatchNormSupport.mergeBlock(mean, m2, c, (center - pivot) + sumD / n,
              Math.max(0f, sumD2 - sumD * (sumD / n)), n, o * inner + i0);
        }
      }
    }
  }

  /** Sum of {@code n} contiguous floats: four accumulators, one lane reduction, scalar tail (also LayerNorm's row sum). */
  static float sumContiguous(float[] x, int base, int n) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = FloatVector.zero(SPECIES), acc2 = FloatVector.zero(SPECIES), acc3 = FloatVector.zero(SPECIES);
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i < upperBound; i += TILE) {
      int p = base + i;
      acc0 = acc0.add(FloatVector.fromArray(SPECIES, x, p));
      acc1 = acc1.add(FloatVector.fromArray(SPECIES, x, p + LANES));
      acc2 = acc2.add(FloatVector.fromArray(SPECIES, x, p + 2 * LANES));
      acc3 = acc3.add(FloatVector.fromArray(SPECIES, x, p + 3 * LANES));
    }
    for (; i < SPECIES.loopBound(n); i += LANES) acc0 = acc0.add(FloatVector.fromArray(SPECIES, x, base + i));
    float sum = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
    for (; i < n; i++) sum += x[base + i]; // scalar tail
    return sum;
  }

  // ---------------------------------------------------------------- normalize

  @Override
  public void normalize(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, int inner,
                        float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
    // One compiled method per layout: together they exceed C2's inlining node budget and box vectors.
    if (inner == 1) {
      normalizeChannelsLast(x, xOffset, y, yOffset, outer, channels, mean, scale, fromVariance, epsilon, gamma, beta);
    } else {
      normalizeChannelsFirst(x, xOffset, y, yOffset, outer, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
    }
  }

  /**
   * Row by row, in memory order: the per-channel scale and shift are folded once into pooled scratch
   * ({@link Scratch}) so that each vector costs a subtract and an FMA with coefficients
   * read from L1 or, for short patterns, held in registers ({@link #normalizePattern}). Walking channel tiles
   * down a block of rows instead ran at ~60% of a plain copy's bandwidth on NHWC 64x56x56x64 (and at 0.5x of
   * the memory-order loop on this AMD machine, fourteenth session); memory order runs at copy speed.
   */
  private static void normalizeChannelsLast(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels,
                                            float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                            float[] gamma, float[] beta) {
    int width = superWidth(channels), total = outer * channels, h = width < 0 ? 0 : head(xOffset, total);
    // A super row of one row (channels a multiple of the lanes, NC 256x1024) reads [alpha | shift | mean]
    // where it was folded, as normalizeFolded does: no tiled copy (12 KiB at 1024 channels), unless the vectors
    // start h floats in (head), where the pattern starts at channel h.
    boolean oneRow = width == channels && h == 0;
    float[] coef = oneRow ? rowCoefficients(channels, mean, scale, fromVariance, epsilon, gamma, beta)
        : forwardCoefficients(channels, width, h % channels, mean, scale, fromVariance, epsilon, gamma, beta);
    try {
      if (width < 0) {
        normalizeRows(x, xOffset, y, yOffset, outer, channels, mean, coef);
      } else {
        normalizeHead(x, xOffset, y, yOffset, h, channels, coef);
        normalizePattern(x, xOffset + h, y, yOffset + h, total - h, width, channels, coef, oneRow ? 0 : 3 * channels);
      }
    } finally {
      Scratch.release(coef);
    }
  }

  /**
   * {@link #normalizeChannelsLast} with {@code [alpha | shift | mean]} folded by the caller. When a super
   * row is one row (channels a multiple of the lanes and at least {@link #MIN_ROW_FLOATS}: NC 256x1024)
   * {@code coef} is already the kernel's per-position pattern, so the rows start at once: no scratch and
   * no fold, which cost each chunk of a {@code ParallelBatchNorm} call ~2 µs at 1024 channels, unless the chunk takes
   * a head ({@link #head(int, int)}: its vectors then start on a line, the pattern at the channel there). Otherwise
   * the pattern (or, for ragged wide rows, a mean array) is copied into scratch from the folded values
   * as {@link #forwardCoefficients} lays it out: the same values, so the same bits.
   */
  @Override
  public void normalizeFolded(float[] x, int xOffset, float[] y, int yOffset, int rows, int channels, float[] coef) {
    int width = superWidth(channels), total = rows * channels, h = width < 0 ? 0 : head(xOffset, total);
    if (width == channels && h == 0) {
      normalizePattern(x, xOffset, y, yOffset, total, width, channels, coef, 0);
      return;
    }
    float[] s = Scratch.borrow(width < 0 ? channels : 3 * channels + 3 * width);
    try {
      if (width < 0) {
        System.arraycopy(coef, 2 * channels, s, 0, channels);
        normalizeRows(x, xOffset, y, yOffset, rows, channels, s, coef);
      } else {
        // The head, as normalizeChannelsLast's (x's lines; y is at the same offset in a ParallelBatchNorm chunk): floats
        // before the first line one at a time, then the pattern tiled from the channel where the vectors start.
        // Switched on and off in one JVM (Intel Xeon, 16 lanes, 41 alternating rounds, ParallelBatchNorm training forward,
        // offset 0, on/off medians): NC 1568x2048 0.799 on 1 thread and 0.763 on 2, 784x4096 0.782 on 2, 200704x64 0.927
        // on 1, 6272x256 and 8192x256 0.99-1.01.
        normalizeHead(x, xOffset, y, yOffset, h, channels, coef);
        System.arraycopy(coef, 0, s, 0, 3 * channels);
        tilePattern(s, 0, channels, 3, 3 * channels, width, h % channels);
        normalizePattern(x, xOffset + h, y, yOffset + h, total - h, width, channels, s, 3 * channels);
      }
    } finally {
      Scratch.release(s);
    }
  }

  /**
   * The head of a channels-last normalize ({@link #head(int, int)}): its first {@code h} floats one at a time, with the
   * vector loop's formula and the per-channel {@code [alpha | shift | mean]} at the start of {@code coef}.
   */
  private static void normalizeHead(float[] x, int xOffset, float[] y, int yOffset, int h, int channels, float[] coef) {
    for (int i = 0, c = 0; i < h; i++, c = c + 1 == channels ? 0 : c + 1) {
      y[yOffset + i] = Math.fma(x[xOffset + i] - coef[2 * channels + c], coef[c], coef[channels + c]);
    }
  }

  /** Pooled scratch (release it) holding {@code [alpha | shift | mean]} per channel. */
  private static float[] rowCoefficients(int channels, float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                         float[] gamma, float[] beta) {
    return Coefficients.folded(Scratch.borrow(3 * channels), channels, 0, channels, mean, scale, fromVariance, epsilon, gamma, beta);
  }

  /**
   * Pooled scratch (release it) holding {@code [alpha | shift]} per channel and, when {@code width >= 0},
   * {@code [alpha | shift | mean]} repeated over a super row from {@code 3 * channels}.
   */
  private static float[] forwardCoefficients(int channels, int width, int first, float[] mean, float[] scale, boolean fromVariance,
                                             float epsilon, float[] gamma, float[] beta) {
    float[] coef = Coefficients.folded(Scratch.borrow(3 * channels + 3 * Math.max(width, 0)), channels, 0, channels,
        width >= 0 ? mean : null, scale, fromVariance, epsilon, gamma, beta);
    if (width >= 0) tilePattern(coef, 0, channels, 3, 3 * channels, width, first);
    return coef;
  }

  /**
   * Calls on more floats than this (1 MiB, past L2) walk the super rows as two or four long streams
   * ({@link #normalizeStreams2}, {@link #normalizeStreams4}). Calls that fit in L2 (NC 256x1024, whose training
   * forward is held to at most 1.6x its inference forward) keep the one-stream walk.
   */
  static final int STREAM_MIN_FLOATS = 256 * 1024;

  /** Super rows (or rows) at least this wide run four streams, narrower ones two. */
  static final int FOUR_STREAM_WIDTH = 1024;

  /**
   * The tensor as one stream of super rows ({@code width} floats, whole rows, whole vectors), with
   * per-position coefficients {@code [alpha | shift | mean]} at {@code at}: no channel tail and no
   * per-row loop overhead for small or ragged channel counts. The same arithmetic as the row loop, so
   * the same bits.
   *
   * <p>Loading three coefficient vectors per data vector made this loop 1.3x slower than the channels-first
   * one on the same bytes (it holds them in registers): 4 loads and a store per 64 bytes, where this machine
   * (Zen 4) loads two 256-bit halves a cycle. So when the pattern repeats every 1 to 4 vectors
   * ({@link #registerStride}, the backward apply's rule: C = 16, 32, 48, 64 and their divisors at 16 lanes) its
   * vectors stay in registers ({@link #normalizeRegisters4}, {@link #normalizeRegisters3}); otherwise long calls load each
   * coefficient vector once for two or four super rows from separate parts of the tensor. Rows of the same part
   * instead (interleaved runs a super row apart) ran 2x slower: the prefetchers follow long streams, not short
   * interleaved runs (the same finding as the backward reduce's, thirteenth session).
   */
  private static void normalizePattern(float[] x, int xOffset, float[] y, int yOffset, int total, int width, int channels,
                                       float[] coef, int at) {
    int stride = registerStride(channels); // the backward apply's rule: the pattern repeats within four vectors
    if (stride == 3 * LANES) {
      normalizeRegisters3(x, xOffset, y, yOffset, total, width, coef, at);
      return;
    }
    if (stride > 0) {
      normalizeRegisters4(x, xOffset, y, yOffset, total, width, coef, at);
      return;
    }
    int done = 0;
    if (total > STREAM_MIN_FLOATS) {
      done = width >= FOUR_STREAM_WIDTH ? normalizeStreams4(x, xOffset, y, yOffset, total, width, coef, at)
          : normalizeStreams2(x, xOffset, y, yOffset, total, width, coef, at);
    }
    normalizeSuperRows(x, xOffset + done, y, yOffset + done, total - done, width, coef, at);
  }

  /**
   * The one-stream walk of {@link #normalizePattern}, from the pattern's start: the loop as it was before the routes
   * (in-L2 calls such as NC 256x1024 run exactly this), and the rest of the routes' tensors (each starts a period in).
   */
  private static void normalizeSuperRows(float[] x, int xOffset, float[] y, int yOffset, int total, int width, float[] coef, int at) {
    // Bodies written out: a helper called per vector fails C2's inlining size test at these call sites.
    int i = 0;
    for (; i + width <= total; i += width) {
      int xs = xOffset + i, ys = yOffset + i;
      for (int j = 0; j < width; j += LANES) {
        FloatVector.fromArray(SPECIES, x, xs + j).sub(FloatVector.fromArray(SPECIES, coef, at + 2 * width + j))
            .fma(FloatVector.fromArray(SPECIES, coef, at + j), FloatVector.fromArray(SPECIES, coef, at + width + j)).intoArray(y, ys + j);
      }
    }
    int rest = total - i, j = 0; // rows that do not fill a super row: the pattern continues
    for (; j < SPECIES.loopBound(rest); j += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + i + j).sub(FloatVector.fromArray(SPECIES, coef, at + 2 * width + j))
          .fma(FloatVector.fromArray(SPECIES, coef, at + j), FloatVector.fromArray(SPECIES, coef, at + width + j)).intoArray(y, yOffset + i + j);
    }
    for (; j < rest; j++) { // scalar tail
      y[yOffset + i + j] = Math.fma(x[xOffset + i + j] - coef[at + 2 * width + j], coef[at + j], coef[at + width + j]);
    }
  }

  /**
   * {@link #normalizeSuperRows} for a pattern of 1, 2 or 4 vectors: four vectors of coefficients in registers,
   * memory order, one load and one store per vector, as the channels-first loop. The last vectors and floats
   * (fewer than four vectors, starting at a multiple of the period) go to {@link #normalizeSuperRows}.
   *
   * <p>Each step loads its four x vectors before it stores any y vector (as the backward apply's step does). Load,
   * store, load, store ran the 51 MB NHWC 64x56x56x64 inference forward at 1.15x a plain {@code y = x * a + b} vector
   * loop over the same arrays, loads first at 1.00x (JVMs with -XX:+UseTransparentHugePages, where the loop is not
   * bound by TLB misses: 2992 against 2609 us and 3141 against 2708 us, /tmp/nhwc16/src/LoopProbe.java). A partial
   * overlap of x and y is rejected by the entry points, so the order changes no value.
   */
  private static void normalizeRegisters4(float[] x, int xOffset, float[] y, int yOffset, int total, int width, float[] coef, int at) {
    int s = at + width, m = at + 2 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, s), b1 = FloatVector.fromArray(SPECIES, coef, s + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, s + 2 * LANES), b3 = FloatVector.fromArray(SPECIES, coef, s + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    int bound = total - total % TILE, i = 0;
    for (; i < bound; i += TILE) { // the step's four loads before its four stores (see the comment above)
      int xs = xOffset + i, ys = yOffset + i;
      FloatVector x0 = FloatVector.fromArray(SPECIES, x, xs), x1 = FloatVector.fromArray(SPECIES, x, xs + LANES);
      FloatVector x2 = FloatVector.fromArray(SPECIES, x, xs + 2 * LANES), x3 = FloatVector.fromArray(SPECIES, x, xs + 3 * LANES);
      x0.sub(m0).fma(a0, b0).intoArray(y, ys);
      x1.sub(m1).fma(a1, b1).intoArray(y, ys + LANES);
      x2.sub(m2).fma(a2, b2).intoArray(y, ys + 2 * LANES);
      x3.sub(m3).fma(a3, b3).intoArray(y, ys + 3 * LANES);
    }
    normalizeSuperRows(x, xOffset + i, y, yOffset + i, total - i, width, coef, at);
  }

  /** {@link #normalizeRegisters4} for a pattern of 3 vectors (C = 48, 24, 12, 6, 3 at 16 lanes): three vectors a step. */
  private static void normalizeRegisters3(float[] x, int xOffset, float[] y, int yOffset, int total, int width, float[] coef, int at) {
    int s = at + width, m = at + 2 * width, step = 3 * LANES;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, s), b1 = FloatVector.fromArray(SPECIES, coef, s + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, s + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    int bound = total - total % step, i = 0;
    for (; i < bound; i += step) { // loads before stores, as normalizeRegisters4
      int xs = xOffset + i, ys = yOffset + i;
      FloatVector x0 = FloatVector.fromArray(SPECIES, x, xs), x1 = FloatVector.fromArray(SPECIES, x, xs + LANES);
      FloatVector x2 = FloatVector.fromArray(SPECIES, x, xs + 2 * LANES);
      x0.sub(m0).fma(a0, b0).intoArray(y, ys);
      x1.sub(m1).fma(a1, b1).intoArray(y, ys + LANES);
      x2.sub(m2).fma(a2, b2).intoArray(y, ys + 2 * LANES);
    }
    normalizeSuperRows(x, xOffset + i, y, yOffset + i, total - i, width, coef, at);
  }

  /**
   * The first {@code 2 * (superRows / 2)} super rows as two halves walked side by side: each coefficient vector is
   * loaded once for a vector of each half. Both data vectors are loaded before either store, so a store never sits
   * between a load and a store of the same address modulo 4 KiB in the other half. Returns the floats done.
   */
  private static int normalizeStreams2(float[] x, int xOffset, float[] y, int yOffset, int total, int width, float[] coef, int at) {
    int part = total / width / 2 * width;
    for (int i = 0; i < part; i += width) {
      int xs = xOffset + i, ys = yOffset + i;
      for (int j = 0; j < width; j += LANES) {
        FloatVector u0 = FloatVector.fromArray(SPECIES, x, xs + j), u1 = FloatVector.fromArray(SPECIES, x, xs + part + j);
        FloatVector a = FloatVector.fromArray(SPECIES, coef, at + j), b = FloatVector.fromArray(SPECIES, coef, at + width + j);
        FloatVector m = FloatVector.fromArray(SPECIES, coef, at + 2 * width + j);
        u0.sub(m).fma(a, b).intoArray(y, ys + j);
        u1.sub(m).fma(a, b).intoArray(y, ys + part + j);
      }
    }
    return 2 * part;
  }

  /** {@link #normalizeStreams2} with four quarters: for wide super rows, whose coefficients (12 KiB and more) leave L1. */
  private static int normalizeStreams4(float[] x, int xOffset, float[] y, int yOffset, int total, int width, float[] coef, int at) {
    int part = total / width / 4 * width;
    for (int i = 0; i < part; i += width) {
      int xs = xOffset + i, ys = yOffset + i;
      for (int j = 0; j < width; j += LANES) {
        FloatVector u0 = FloatVector.fromArray(SPECIES, x, xs + j), u1 = FloatVector.fromArray(SPECIES, x, xs + part + j);
        FloatVector u2 = FloatVector.fromArray(SPECIES, x, xs + 2 * part + j), u3 = FloatVector.fromArray(SPECIES, x, xs + 3 * part + j);
        FloatVector a = FloatVector.fromArray(SPECIES, coef, at + j), b = FloatVector.fromArray(SPECIES, coef, at + width + j);
        FloatVector m = FloatVector.fromArray(SPECIES, coef, at + 2 * width + j);
        u0.sub(m).fma(a, b).intoArray(y, ys + j);
        u1.sub(m).fma(a, b).intoArray(y, ys + part + j);
        u2.sub(m).fma(a, b).intoArray(y, ys + 2 * part + j);
        u3.sub(m).fma(a, b).intoArray(y, ys + 3 * part + j);
      }
    }
    return 4 * part;
  }

  /**
   * Rows too wide for super rows ({@code lcm(channels, LANES) > MAX_SUPER_FLOATS}), with a scalar channel tail. Long
   * calls walk two halves of the rows side by side ({@link #normalizeRowStreams2}), as {@link #normalizeSuperRows}.
   */
  private static void normalizeRows(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, float[] mean,
                                    float[] coef) {
    int done = (long) outer * channels > STREAM_MIN_FLOATS ? normalizeRowStreams2(x, xOffset, y, yOffset, outer, channels, mean, coef) : 0;
    int vectorBound = SPECIES.loopBound(channels);
    for (int r = done; r < outer; r++) {
      int xs = xOffset + r * channels, ys = yOffset + r * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector.fromArray(SPECIES, x, xs + c).sub(FloatVector.fromArray(SPECIES, mean, c))
            .fma(FloatVector.fromArray(SPECIES, coef, c), FloatVector.fromArray(SPECIES, coef, channels + c)).intoArray(y, ys + c);
      }
      for (; c < channels; c++) y[ys + c] = Math.fma(x[xs + c] - mean[c], coef[c], coef[channels + c]); // scalar tail
    }
  }

  /** The first {@code 2 * (outer / 2)} rows of {@link #normalizeRows} as two halves side by side; returns the rows done. */
  private static int normalizeRowStreams2(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels, float[] mean,
                                          float[] coef) {
    int vectorBound = SPECIES.loopBound(channels), half = outer / 2, part = half * channels;
    for (int r = 0; r < half; r++) {
      int xs = xOffset + r * channels, ys = yOffset + r * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector u0 = FloatVector.fromArray(SPECIES, x, xs + c), u1 = FloatVector.fromArray(SPECIES, x, xs + part + c);
        FloatVector a = FloatVector.fromArray(SPECIES, coef, c), b = FloatVector.fromArray(SPECIES, coef, channels + c);
        FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
        u0.sub(m).fma(a, b).intoArray(y, ys + c);
        u1.sub(m).fma(a, b).intoArray(y, ys + part + c);
      }
      for (; c < channels; c++) { // scalar tail
        float v0 = x[xs + c], v1 = x[xs + part + c];
        y[ys + c] = Math.fma(v0 - mean[c], coef[c], coef[channels + c]);
        y[ys + part + c] = Math.fma(v1 - mean[c], coef[c], coef[channels + c]);
      }
    }
    return 2 * half;
  }

  private static void normalizeChannelsFirst(float[] x, int xOffset, float[] y, int yOffset, int outer, int channels,
                                             int inner, float[] mean, float[] scale, boolean fromVariance,
                                             float epsilon, float[] gamma, float[] beta) {
    int vectorBound = SPECIES.loopBound(inner);
    // [alpha | shift] once per call, not per plane: with 49-float planes (4 vectors), inference's double
    // square root and division per plane cost as much as the plane itself. Same values, so the same bits.
    float[] coef = Coefficients.forward(Scratch.borrow(2 * channels), channels, scale, fromVariance, epsilon, gamma, beta);
    try {
      for (int o = 0; o < outer; o++) {
        for (int c = 0; c < channels; c++) {
          float alpha = coef[c], shift = coef[channels + c];
          FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
          FloatVector a = FloatVector.broadcast(SPECIES, alpha);
          FloatVector b = FloatVector.broadcast(SPECIES, shift);
          int xs = xOffset + (o * channels + c) * inner, ys = yOffset + (o * channels + c) * inner;
          int i = 0;
          if (vectorBound != inner && inner > LANES) {
            // Ragged plane (NCHW 14x14: 196 = 12 * 16 + 4): one vector ending at the plane's end instead of
            // a scalar tail, which cost a tenth of the time on such shapes. It overlaps elements already
            // written, so it is loaded before any store to this plane (y may be x) and rewrites the same values.
            FloatVector last = FloatVector.fromArray(SPECIES, x, xs + inner - LANES);
            for (; i < vectorBound; i += LANES) FloatVector.fromArray(SPECIES, x, xs + i).sub(m).fma(a, b).intoArray(y, ys + i);
            last.sub(m).fma(a, b).intoArray(y, ys + inner - LANES);
            continue;
          }
          for (; i < vectorBound; i += LANES) FloatVector.fromArray(SPECIES, x, xs + i).sub(m).fma(a, b).intoArray(y, ys + i);
          // scalar tail
          ScalarBatchNormSupport.normalizeStrided(x, xs + i, y, ys + i, 1, inner - i, mean[c], alpha, shift);
        }
      }
    } finally {
      Scratch.release(coef);
    }
  }


  // ---------------------------------------------------------------- normalize on native memory

  static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /**
   * Inference reads x once and writes y once, so staging native memory through arrays (a copy in and a
   * copy out per tile) cost 1.3-1.9x the float[] time, and more than oneDNN inside DL4J. Here the vector
   * loads and stores go straight to the segments. Only native segments ever reach these loops (float[]
   * segments run on their arrays, others are staged): C2 compiles segment access well only while its
   * type profile has seen one segment class, and a loop that had also seen heap segments ran 1.6x
   * slower (README, "How the kernels work": "Why a second body and not one kernel over segments").
   * Same arithmetic as the array kernels, so the same bits.
   */
  @Override
  public boolean normalizeNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels,
                                 int inner, float[] mean, float[] scale, boolean fromVariance, float epsilon, float[] gamma,
                                 float[] beta) {
    if (inner > 1) {
      normalizeChannelsFirstNative(x, xOffset, y, yOffset, outer, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
      return true;
    }
    int width = superWidth(channels);
    long total = (long) outer * channels;
    int h = width < 0 ? 0 : head(x, xOffset, total);
    float[] coef = forwardCoefficients(channels, width, h % channels, mean, scale, fromVariance, epsilon, gamma, beta);
    try {
      if (width < 0) {
        normalizeRowsNative(x, xOffset, y, yOffset, outer, channels, mean, coef);
      } else {
        for (int i = 0, c = 0; i < h; i++, c = c + 1 == channels ? 0 : c + 1) { // the head, one float at a time: the vector loop's formula
          y.set(FLOAT_LE, yOffset + 4L * i, Math.fma(x.get(FLOAT_LE, xOffset + 4L * i) - coef[2 * channels + c], coef[c], coef[channels + c]));
        }
        normalizePatternNative(x, xOffset + 4L * h, y, yOffset + 4L * h, total - h, width, channels, coef, 3 * channels);
      }
    } finally {
      Scratch.release(coef);
    }
    return true;
  }

  /** {@link #normalizeRows} on native memory (offsets in bytes): rows too wide for super rows, with a ragged channel tail. */
  private static void normalizeRowsNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels,
                                          float[] mean, float[] coef) {
    int done = (long) outer * channels > STREAM_MIN_FLOATS
        ? normalizeRowStreams2Native(x, xOffset, y, yOffset, outer, channels, mean, coef) : 0;
    int vectorBound = SPECIES.loopBound(channels);
    long rowBytes = 4L * channels;
    for (int r = done; r < outer; r++) {
      long xr = xOffset + r * rowBytes, yr = yOffset + r * rowBytes;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector.fromMemorySegment(SPECIES, x, xr + 4L * c, ByteOrder.LITTLE_ENDIAN).sub(FloatVector.fromArray(SPECIES, mean, c))
            .fma(FloatVector.fromArray(SPECIES, coef, c), FloatVector.fromArray(SPECIES, coef, channels + c))
            .intoMemorySegment(y, yr + 4L * c, ByteOrder.LITTLE_ENDIAN);
      }
      for (; c < channels; c++) { // scalar tail
        float v = x.get(FLOAT_LE, xr + 4L * c);
        y.set(FLOAT_LE, yr + 4L * c, Math.fma(v - mean[c], coef[c], coef[channels + c]));
      }
    }
  }

  /** {@link #normalizeRowStreams2} on native memory; returns the rows done. */
  private static int normalizeRowStreams2Native(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels,
                                                float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(channels), half = outer / 2;
    long rowBytes = 4L * channels, part = half * rowBytes;
    for (int r = 0; r < half; r++) {
      long xr = xOffset + r * rowBytes, yr = yOffset + r * rowBytes;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector u0 = FloatVector.fromMemorySegment(SPECIES, x, xr + 4L * c, ByteOrder.LITTLE_ENDIAN);
        FloatVector u1 = FloatVector.fromMemorySegment(SPECIES, x, xr + part + 4L * c, ByteOrder.LITTLE_ENDIAN);
        FloatVector a = FloatVector.fromArray(SPECIES, coef, c), b = FloatVector.fromArray(SPECIES, coef, channels + c);
        FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
        u0.sub(m).fma(a, b).intoMemorySegment(y, yr + 4L * c, ByteOrder.LITTLE_ENDIAN);
        u1.sub(m).fma(a, b).intoMemorySegment(y, yr + part + 4L * c, ByteOrder.LITTLE_ENDIAN);
      }
      for (; c < channels; c++) { // scalar tail
        float v0 = x.get(FLOAT_LE, xr + 4L * c), v1 = x.get(FLOAT_LE, xr + part + 4L * c);
        y.set(FLOAT_LE, yr + 4L * c, Math.fma(v0 - mean[c], coef[c], coef[channels + c]));
        y.set(FLOAT_LE, yr + part + 4L * c, Math.fma(v1 - mean[c], coef[c], coef[channels + c]));
      }
    }
    return 2 * half;
  }

  /** {@link #normalizePattern} on native memory; {@code total} floats, offsets in bytes. The same routes. */
  private static void normalizePatternNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total,
                                             int width, int channels, float[] coef, int at) {
    int stride = registerStride(channels);
    if (stride == 3 * LANES) {
      normalizeRegisters3Native(x, xOffset, y, yOffset, total, width, coef, at);
      return;
    }
    if (stride > 0) {
      normalizeRegisters4Native(x, xOffset, y, yOffset, total, width, coef, at);
      return;
    }
    long done = 0;
    if (total > STREAM_MIN_FLOATS) {
      done = width >= FOUR_STREAM_WIDTH ? normalizeStreams4Native(x, xOffset, y, yOffset, total, width, coef, at)
          : normalizeStreams2Native(x, xOffset, y, yOffset, total, width, coef, at);
    }
    normalizeSuperRowsNative(x, xOffset + 4 * done, y, yOffset + 4 * done, total - done, width, coef, at);
  }

  /** {@link #normalizeSuperRows} on native memory; {@code total} floats, offsets in bytes. */
  private static void normalizeSuperRowsNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total,
                                               int width, float[] coef, int at) {
    long i = 0;
    for (; i + width <= total; i += width) {
      long xs = xOffset + 4 * i, ys = yOffset + 4 * i;
      for (int j = 0; j < width; j += LANES) {
        FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * j, ByteOrder.LITTLE_ENDIAN)
            .sub(FloatVector.fromArray(SPECIES, coef, at + 2 * width + j))
            .fma(FloatVector.fromArray(SPECIES, coef, at + j), FloatVector.fromArray(SPECIES, coef, at + width + j))
            .intoMemorySegment(y, ys + 4L * j, ByteOrder.LITTLE_ENDIAN);
      }
    }
    int rest = (int) (total - i), j = 0; // rows that do not fill a super row: the pattern continues
    long xs = xOffset + 4 * i, ys = yOffset + 4 * i;
    for (; j < SPECIES.loopBound(rest); j += LANES) {
      FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * j, ByteOrder.LITTLE_ENDIAN)
          .sub(FloatVector.fromArray(SPECIES, coef, at + 2 * width + j))
          .fma(FloatVector.fromArray(SPECIES, coef, at + j), FloatVector.fromArray(SPECIES, coef, at + width + j))
          .intoMemorySegment(y, ys + 4L * j, ByteOrder.LITTLE_ENDIAN);
    }
    for (; j < rest; j++) { // scalar tail
      float v = x.get(FLOAT_LE, xs + 4L * j);
      y.set(FLOAT_LE, ys + 4L * j, Math.fma(v - coef[at + 2 * width + j], coef[at + j], coef[at + width + j]));
    }
  }

  /** {@link #normalizeRegisters4} on native memory. */
  private static void normalizeRegisters4Native(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total, int width,
                                                float[] coef, int at) {
    int s = at + width, m = at + 2 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, s), b1 = FloatVector.fromArray(SPECIES, coef, s + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, s + 2 * LANES), b3 = FloatVector.fromArray(SPECIES, coef, s + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    long bound = total - total % TILE, i = 0, step = 4L * LANES;
    for (; i < bound; i += TILE) {
      long xs = xOffset + 4 * i, ys = yOffset + 4 * i; // the step's four loads before its four stores, as normalizeRegisters4
      FloatVector x0 = FloatVector.fromMemorySegment(SPECIES, x, xs, ByteOrder.LITTLE_ENDIAN);
      FloatVector x1 = FloatVector.fromMemorySegment(SPECIES, x, xs + step, ByteOrder.LITTLE_ENDIAN);
      FloatVector x2 = FloatVector.fromMemorySegment(SPECIES, x, xs + 2 * step, ByteOrder.LITTLE_ENDIAN);
      FloatVector x3 = FloatVector.fromMemorySegment(SPECIES, x, xs + 3 * step, ByteOrder.LITTLE_ENDIAN);
      x0.sub(m0).fma(a0, b0).intoMemorySegment(y, ys, ByteOrder.LITTLE_ENDIAN);
      x1.sub(m1).fma(a1, b1).intoMemorySegment(y, ys + step, ByteOrder.LITTLE_ENDIAN);
      x2.sub(m2).fma(a2, b2).intoMemorySegment(y, ys + 2 * step, ByteOrder.LITTLE_ENDIAN);
      x3.sub(m3).fma(a3, b3).intoMemorySegment(y, ys + 3 * step, ByteOrder.LITTLE_ENDIAN);
    }
    normalizeSuperRowsNative(x, xOffset + 4 * i, y, yOffset + 4 * i, total - i, width, coef, at);
  }

  /** {@link #normalizeRegisters3} on native memory. */
  private static void normalizeRegisters3Native(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total, int width,
                                                float[] coef, int at) {
    int s = at + width, m = at + 2 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, s), b1 = FloatVector.fromArray(SPECIES, coef, s + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, s + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    long floats = 3L * LANES, bound = total - total % floats, i = 0, step = 4L * LANES;
    for (; i < bound; i += floats) {
      long xs = xOffset + 4 * i, ys = yOffset + 4 * i; // loads before stores, as normalizeRegisters4
      FloatVector x0 = FloatVector.fromMemorySegment(SPECIES, x, xs, ByteOrder.LITTLE_ENDIAN);
      FloatVector x1 = FloatVector.fromMemorySegment(SPECIES, x, xs + step, ByteOrder.LITTLE_ENDIAN);
      FloatVector x2 = FloatVector.fromMemorySegment(SPECIES, x, xs + 2 * step, ByteOrder.LITTLE_ENDIAN);
      x0.sub(m0).fma(a0, b0).intoMemorySegment(y, ys, ByteOrder.LITTLE_ENDIAN);
      x1.sub(m1).fma(a1, b1).intoMemorySegment(y, ys + step, ByteOrder.LITTLE_ENDIAN);
      x2.sub(m2).fma(a2, b2).intoMemorySegment(y, ys + 2 * step, ByteOrder.LITTLE_ENDIAN);
    }
    normalizeSuperRowsNative(x, xOffset + 4 * i, y, yOffset + 4 * i, total - i, width, coef, at);
  }

  /**
   * {@link #normalizeStreams2} on native memory; returns the floats done. The part runs as ONE loop over its vectors,
   * the coefficient position {@code j} wrapping at {@code width}, not a loop per super row: each entry into a counted
   * loop over a segment sets up the long-range-check loop nest, pre-, main and post-loop afresh
   * ({@link PanamaNativeShortPlanes#ownLoops}), and a super row here is 16-63 vectors. One loop whose segment offsets are
   * linear in its index lets C2 hoist the bounds checks once a call. Same operations per element, so the same bits.
   * Probe (one JVM, the loop alone, 21 rotated rounds, /tmp/seg15/probe/NProbe.java): NC 8192x256's bytes 1.096 of the
   * {@code float[]} loop's time per super row, 0.925 as one loop. {@code SegmentCheck ratio} (session 15): NC:8192x256
   * training forward 1.131, 1.220 to 0.901, 0.686 and inference 1.034, 1.351 to 0.865, 1.022; NHWC:32x14x14x256 training
   * forward 0.991, 1.169 to 0.901, 0.871 and inference 0.970, 1.186 to 0.916, 0.962. The in-L2 one-stream walk
   * ({@link #normalizeSuperRowsNative}, NC 256x1024) keeps its loop per super row: as one loop it ran 1.21-1.39 against
   * 1.04-1.14.
   */
  private static long normalizeStreams2Native(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total, int width,
                                              float[] coef, int at) {
    long part = total / width / 2 * width, partBytes = 4 * part;
    int j = 0;
    for (long i = 0; i < part; i += LANES) {
      long xs = xOffset + 4 * i, ys = yOffset + 4 * i;
      FloatVector u0 = FloatVector.fromMemorySegment(SPECIES, x, xs, ByteOrder.LITTLE_ENDIAN);
      FloatVector u1 = FloatVector.fromMemorySegment(SPECIES, x, xs + partBytes, ByteOrder.LITTLE_ENDIAN);
      FloatVector a = FloatVector.fromArray(SPECIES, coef, at + j), b = FloatVector.fromArray(SPECIES, coef, at + width + j);
      FloatVector m = FloatVector.fromArray(SPECIES, coef, at + 2 * width + j);
      u0.sub(m).fma(a, b).intoMemorySegment(y, ys, ByteOrder.LITTLE_ENDIAN);
      u1.sub(m).fma(a, b).intoMemorySegment(y, ys + partBytes, ByteOrder.LITTLE_ENDIAN);
      j += LANES;
      if (j == width) j = 0;
    }
    return 2 * part;
  }

  /** {@link #normalizeStreams4} on native memory; returns the floats done. One loop over the part, as {@link #normalizeStreams2Native}. */
  private static long normalizeStreams4Native(MemorySegment x, long xOffset, MemorySegment y, long yOffset, long total, int width,
                                              float[] coef, int at) {
    long part = total / width / 4 * width, partBytes = 4 * part;
    int j = 0;
    for (long i = 0; i < part; i += LANES) {
      long xs = xOffset + 4 * i, ys = yOffset + 4 * i;
      FloatVector u0 = FloatVector.fromMemorySegment(SPECIES, x, xs, ByteOrder.LITTLE_ENDIAN);
      FloatVector u1 = FloatVector.fromMemorySegment(SPECIES, x, xs + partBytes, ByteOrder.LITTLE_ENDIAN);
      FloatVector u2 = FloatVector.fromMemorySegment(SPECIES, x, xs + 2 * partBytes, ByteOrder.LITTLE_ENDIAN);
      FloatVector u3 = FloatVector.fromMemorySegment(SPECIES, x, xs + 3 * partBytes, ByteOrder.LITTLE_ENDIAN);
      FloatVector a = FloatVector.fromArray(SPECIES, coef, at + j), b = FloatVector.fromArray(SPECIES, coef, at + width + j);
      FloatVector m = FloatVector.fromArray(SPECIES, coef, at + 2 * width + j);
      u0.sub(m).fma(a, b).intoMemorySegment(y, ys, ByteOrder.LITTLE_ENDIAN);
      u1.sub(m).fma(a, b).intoMemorySegment(y, ys + partBytes, ByteOrder.LITTLE_ENDIAN);
      u2.sub(m).fma(a, b).intoMemorySegment(y, ys + 2 * partBytes, ByteOrder.LITTLE_ENDIAN);
      u3.sub(m).fma(a, b).intoMemorySegment(y, ys + 3 * partBytes, ByteOrder.LITTLE_ENDIAN);
      j += LANES;
      if (j == width) j = 0;
    }
    return 4 * part;
  }

  /** {@link #normalizeChannelsFirst} on native memory (offsets in bytes), with the same overlapping last vector. */
  private static void normalizeChannelsFirstNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer,
                                                   int channels, int inner, float[] mean, float[] scale, boolean fromVariance,
                                                   float epsilon, float[] gamma, float[] beta) {
    int vectorBound = SPECIES.loopBound(inner);
    // [alpha | shift] once per call, as in normalizeChannelsFirst.
    float[] coef = Coefficients.forward(Scratch.borrow(2 * channels), channels, scale, fromVariance, epsilon, gamma, beta);
    try {
      if (PanamaNativeShortPlanes.applies(outer, channels, inner)) { // short planes: one loop per run of planes, not per plane
        PanamaNativeShortPlanes.normalize(x, xOffset, y, yOffset, outer, channels, inner, mean, coef);
        return;
      }
      // Short planes run their own copy of the plane loop: see PanamaNativeShortPlanes.ownLoops.
      if (PanamaNativeShortPlanes.ownLoops(inner)) {
        normalizeShortPlanesNative(x, xOffset, y, yOffset, outer, channels, inner, mean, coef);
      } else if (vectorBound == inner && inner < MID_PLANE_FLOATS) {
        normalizeMidPlanesNative(x, xOffset, y, yOffset, outer, channels, inner, mean, coef);
      } else if (vectorBound == inner) {
        normalizeWholePlanesNative(x, xOffset, y, yOffset, outer, channels, inner, mean, coef);
      } else {
        normalizePlanesNative(x, xOffset, y, yOffset, outer, channels, inner, mean, coef);
      }
    } finally {
      Scratch.release(coef);
    }
  }

  /** The plane loop of {@link #normalizeChannelsFirstNative}; {@code coef} is {@code [alpha | shift]} per channel. */
  private static void normalizePlanesNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer,
                                            int channels, int inner, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(inner);
    long planeBytes = 4L * inner;
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = coef[c], shift = coef[channels + c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        long plane = 4L * ((long) o * channels + c) * inner;
        // The plane as its own slice, addressed from 0: the loop's bounds checks are then against the slice's
        // size, and C2 hoists them at a cheaper loop entry than against the whole tensor's. Inference,
        // segment/float[] (SegmentCheck ratio): NCHW 7x13x13x17 1.40-1.50 -> 1.04-1.07, 16x10x10x100
        // 1.42-1.71 -> 0.97-1.05. The slices are scalar-replaced (0 B per call). Copying blocks of planes
        // into a pooled float[] instead was slower (1.22-1.26x on 32x14x14x256): the two copies cost as
        // much as the array kernel itself.
        MemorySegment xp = x.asSlice(xOffset + plane, planeBytes), yp = y.asSlice(yOffset + plane, planeBytes);
        boolean overlap = vectorBound != inner && inner > LANES;
        FloatVector last = overlap ? FloatVector.fromMemorySegment(SPECIES, xp, 4L * (inner - LANES), ByteOrder.LITTLE_ENDIAN) : null;
        int i = 0;
        // != : not a counted loop (as PanamaNativeMoments.plane, which says why): NCHW 64x56x56x64 inference
        // 1.04-1.12 to 0.86-0.92 segment/float[], 8x3x224x224 1.23-1.33 to 0.91-1.22 (SegmentCheck ratio, session 14).
        for (; i != vectorBound; i += LANES) {
          FloatVector.fromMemorySegment(SPECIES, xp, 4L * i, ByteOrder.LITTLE_ENDIAN).sub(m).fma(a, b)
              .intoMemorySegment(yp, 4L * i, ByteOrder.LITTLE_ENDIAN);
        }
        if (overlap) {
          last.sub(m).fma(a, b).intoMemorySegment(yp, 4L * (inner - LANES), ByteOrder.LITTLE_ENDIAN);
          continue;
        }
        for (; i < inner; i++) { // scalar tail
          yp.set(FLOAT_LE, 4L * i, Math.fma(xp.get(FLOAT_LE, 4L * i) - mean[c], alpha, shift));
        }
      }
    }
  }

  /**
   * {@link #normalizePlanesNative} for planes of whole vectors ({@code inner % LANES == 0}): the same loop without the
   * ragged end, in a method of its own so that its profile is its own. Compiled after ragged planes had filled the
   * shared method's profile, the loop ran whole planes slower: NCHW 8x4x128x128 (512-float planes) inference 0.876
   * segment/{@code float[]} alone in a JVM and 1.283 right after NCHW 4x1x1000x1000 (1000-float planes, a ragged end)
   * ({@code SegmentCheck ratio -Dops=inferenceForward}, session 15; with
   * {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0} alone 0.875: not the checks). Same operations, same bits.
   * <p>A further copy per plane-length range did not help (seg15b, session 15): 512-1023-float planes (NCHW 8x3x224x224,
   * 672 floats) in a copy of their own read 1.167/1.259 inference segment/{@code float[]} in the ten-shape JVM against
   * main's 1.197/1.108, and 1.270/1.231 with that copy's loop counted ({@code i < inner}). That miss does not come from
   * other plane lengths: channels-last shapes run first are enough (NC 256x1024, NC 8192x256 or the NHWC shapes, then
   * 8x3x224x224, inference only: 1.19-1.28, against 0.85-0.95 alone or after channels-first shapes), and
   * {@code VECTOR_ACCESS_OOB_CHECK=0} removes it (0.92): the plane loop's bounds checks compile slower after the
   * channels-last kernels, with the same inlining tree ({@code -XX:CompileCommand=PrintInlining}).
   */
  private static void normalizeWholePlanesNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer,
                                                 int channels, int inner, float[] mean, float[] coef) {
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, coef[c]);
        FloatVector b = FloatVector.broadcast(SPECIES, coef[channels + c]);
        long plane = 4L * ((long) o * channels + c) * inner, xp = xOffset + plane, yp = yOffset + plane;
        // No slice (the shorter planes' loops have them, normalizePlanesNative says why): a long plane's loop is entered
        // rarely enough that its setup does not show, and a slice here was allocated in half the fresh JVMs that ran only
        // this call (NCHW 64x56x56x64 inference, 327 KB a call: PlainCallProbe, twenty-fifth session), C2 not having
        // inlined the JDK's asSlice chain (its profile: "low call site frequency").
        for (int i = 0; i != inner; i += LANES) { // != : not a counted loop (normalizePlanesNative); inner is a multiple of LANES
          FloatVector.fromMemorySegment(SPECIES, x, xp + 4L * i, ByteOrder.LITTLE_ENDIAN).sub(m).fma(a, b)
              .intoMemorySegment(y, yp + 4L * i, ByteOrder.LITTLE_ENDIAN);
        }
      }
    }
  }

  /**
   * Whole-vector planes shorter than this (and not {@link PanamaNativeShortPlanes#ownLoops} short: 32-63 vectors at 16
   * lanes) take {@link #normalizeMidPlanesNative}; longer ones {@link #normalizeWholePlanesNative}.
   */
  static final int MID_PLANE_FLOATS = 64 * LANES;

  /**
   * {@link #normalizeWholePlanesNative} for whole-vector planes of 32-63 vectors (below {@link #MID_PLANE_FLOATS}; NCHW
   * 8x3x224x224: 672 floats, NCHW 8x4x128x128: 512), two vectors a step: the loop still exits on equality (not counted,
   * {@link #normalizePlanesNative}), each access keeps its bounds check, but there is one loop-back branch and one index
   * update per two vectors, and the two loads are issued before the two stores. A plane of an odd number of vectors ends
   * with one vector. Same operation per element, so the same bits.
   *
   * <p>Measured (session 16, seg16): the ten-shape slow state of these planes (seg15b: the one-vector loop compiled
   * after channels-last kernels ran 1.10-1.26 segment/{@code float[]}) is gone with two vectors a step. {@code
   * SegmentCheck ratio -Dops=inferenceForward,trainingForward NC:256x1024 NHWC:7x13x13x17 NCHW:64x56x56x64
   * NCHW:32x14x14x256 NCHW:8x3x224x224}, one JVM per run, five runs each alternating with the one-vector loop: NCHW
   * 8x3x224x224 inference 1.10-1.19 to 0.89-1.07, training forward 1.04-1.11 to 0.95-1.01. Two planes a step (two
   * slices, six coefficient vectors) ran 1.32-1.40; a counted loop 1.15-1.28; one slice per sample with offsets from
   * it 0.92-1.22; four vectors a step about as two (0.95-1.00). Longer planes keep the one-vector loop: two vectors a
   * step moved NCHW 64x56x56x64 (3136 floats) inference from 0.83-0.89 to 0.87-0.97.
   */
  private static void normalizeMidPlanesNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer,
                                               int channels, int inner, float[] mean, float[] coef) {
    long planeBytes = 4L * inner;
    int pairBound = inner - inner % (2 * LANES);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, coef[c]);
        FloatVector b = FloatVector.broadcast(SPECIES, coef[channels + c]);
        long plane = 4L * ((long) o * channels + c) * inner;
        MemorySegment xp = x.asSlice(xOffset + plane, planeBytes), yp = y.asSlice(yOffset + plane, planeBytes); // as normalizePlanesNative
        int i = 0;
        for (; i != pairBound; i += 2 * LANES) { // != : not a counted loop (normalizePlanesNative)
          long p = 4L * i;
          FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, xp, p, ByteOrder.LITTLE_ENDIAN);
          FloatVector v1 = FloatVector.fromMemorySegment(SPECIES, xp, p + 4L * LANES, ByteOrder.LITTLE_ENDIAN);
          v0.sub(m).fma(a, b).intoMemorySegment(yp, p, ByteOrder.LITTLE_ENDIAN);
          v1.sub(m).fma(a, b).intoMemorySegment(yp, p + 4L * LANES, ByteOrder.LITTLE_ENDIAN);
        }
        if (i != inner) { // an odd number of vectors: the last one
          FloatVector.fromMemorySegment(SPECIES, xp, 4L * i, ByteOrder.LITTLE_ENDIAN).sub(m).fma(a, b)
              .intoMemorySegment(yp, 4L * i, ByteOrder.LITTLE_ENDIAN);
        }
      }
    }
  }

  /**
   * {@link #normalizePlanesNative} for planes of {@link PanamaNativeShortPlanes#ownLoops} length only: the same
   * arithmetic in the same order, but the vector loop exits on equality ({@code i != vectorBound}), so C2 does not
   * make it a counted loop (PanamaNativeShortPlanes.ownLoops says why that is faster on short planes).
   *
   * <p>Four vectors a step, then the last 0-3 one at a time (session 16, seg16): one loop-back branch and index
   * update per four vectors, the four loads issued before the four stores; each access keeps its bounds check. Same
   * operation per element, so the same bits. NCHW 32x14x14x256 (196 floats: three steps, the overlapping last vector)
   * inference segment/{@code float[]} in one JVM after NC 256x1024 and NHWC 7x13x13x17 ({@code SegmentCheck ratio
   * -Dops=inferenceForward,trainingForward}, alternating runs under load): 0.95-1.06 (six runs, median 0.98) against
   * 0.90-1.28 (eight runs, median 1.05) for one vector a step; two vectors a step 0.96-1.32.
   */
  private static void normalizeShortPlanesNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer,
                                            int channels, int inner, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(inner), quadBound = inner - inner % (4 * LANES);
    long planeBytes = 4L * inner;
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        float alpha = coef[c], shift = coef[channels + c];
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        FloatVector a = FloatVector.broadcast(SPECIES, alpha);
        FloatVector b = FloatVector.broadcast(SPECIES, shift);
        long plane = 4L * ((long) o * channels + c) * inner;
        // Slices as in normalizePlanesNative.
        MemorySegment xp = x.asSlice(xOffset + plane, planeBytes), yp = y.asSlice(yOffset + plane, planeBytes);
        boolean overlap = vectorBound != inner && inner > LANES;
        FloatVector last = overlap ? FloatVector.fromMemorySegment(SPECIES, xp, 4L * (inner - LANES), ByteOrder.LITTLE_ENDIAN) : null;
        int i = 0;
        for (; i != quadBound; i += 4 * LANES) { // != : not a counted loop (see the method's comment); four vectors a step
          long p = 4L * i;
          FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, xp, p, ByteOrder.LITTLE_ENDIAN);
          FloatVector v1 = FloatVector.fromMemorySegment(SPECIES, xp, p + 4L * LANES, ByteOrder.LITTLE_ENDIAN);
          FloatVector v2 = FloatVector.fromMemorySegment(SPECIES, xp, p + 8L * LANES, ByteOrder.LITTLE_ENDIAN);
          FloatVector v3 = FloatVector.fromMemorySegment(SPECIES, xp, p + 12L * LANES, ByteOrder.LITTLE_ENDIAN);
          v0.sub(m).fma(a, b).intoMemorySegment(yp, p, ByteOrder.LITTLE_ENDIAN);
          v1.sub(m).fma(a, b).intoMemorySegment(yp, p + 4L * LANES, ByteOrder.LITTLE_ENDIAN);
          v2.sub(m).fma(a, b).intoMemorySegment(yp, p + 8L * LANES, ByteOrder.LITTLE_ENDIAN);
          v3.sub(m).fma(a, b).intoMemorySegment(yp, p + 12L * LANES, ByteOrder.LITTLE_ENDIAN);
        }
        for (; i != vectorBound; i += LANES) { // the last 0-3 vectors, one at a time; vectorBound is a multiple of LANES
          FloatVector.fromMemorySegment(SPECIES, xp, 4L * i, ByteOrder.LITTLE_ENDIAN).sub(m).fma(a, b)
              .intoMemorySegment(yp, 4L * i, ByteOrder.LITTLE_ENDIAN);
        }
        if (overlap) {
          last.sub(m).fma(a, b).intoMemorySegment(yp, 4L * (inner - LANES), ByteOrder.LITTLE_ENDIAN);
          continue;
        }
        for (; i < inner; i++) { // scalar tail
          yp.set(FLOAT_LE, 4L * i, Math.fma(xp.get(FLOAT_LE, 4L * i) - mean[c], alpha, shift));
        }
      }
    }
  }

  // ---------------------------------------------------------------- backward

  @Override
  public void backwardReduce(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                             int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    backwardReduceChunk(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat,
        (long) outer * channels * inner); // a whole tensor is its own chunk
  }

  /**
   * A {@code ParallelBatchNorm} chunk's reduce: channels-last chunks of a tensor of {@link #ROW_ORDER_MIN_FLOATS} or
   * more read its rows in order ({@link #rowOrderSteps}) whatever the chunk's own size (128 Ki floats and up), as the
   * whole tensor's call would. Backward on 2 threads, {@code jmh/peers/run JAR OUT --ops backward --shapes
   * NHWC:64x56x56x64,NHWC:32x56x56x32,NC:8192x256 --threads 2} (twenty-eighth session, two runs a jar), the walk by the
   * tensor's size / by the chunk's: NHWC 32x56x56x32 857, 986 / 1940, 1683 µs; NC 8192x256 543, 524 / 775, 764; NHWC
   * 64x56x56x64 9181, 8892 / 11029, 13158.
   */
  @Override
  public void backwardReduceChunk(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                                  float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    if (inner == 1) {
      reduceChannelsLast(x, xOffset, dy, dyOffset, outer, channels, mean, sumDy, sumDyXhat, outer * channels >= HEAD_MIN_FLOATS,
          tensorFloats >= ROW_ORDER_MIN_FLOATS);
    } else {
      reduceChannelsFirst(x, xOffset, dy, dyOffset, outer, channels, inner, mean, sumDy, sumDyXhat);
    }
    scaleByInvStd(sumDyXhat, invStd, channels);
  }

  /** {@code sumDyXhat[c] *= invStd[c]}, the reduce's last step. */
  private static void scaleByInvStd(float[] sumDyXhat, float[] invStd, int channels) {
    // Scalar Java (C2 vectorizes it), not Vector API code: once a call, so on a large tensor's few calls it stayed in
    // C1, where vectors are objects: 4.6 KB a call under -prof gc on NC 8192x256 backward, 1.1 KB on NHWC 64x56x56x64.
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c];
  }

  /**
   * {@link #backwardReduce} of one channels-last sample of a larger tensor ({@code rows} rows of {@code channels}), for
   * group norm's backward: {@code streamed} says whether the tensor the sample belongs to comes from memory (at least
   * {@link #HEAD_MIN_FLOATS} floats), which decides the walk ({@link #fourRowsOnLines}) as the tensor's size does in
   * batch norm's own call: a sample of NHWC 16x28x28x96 (75 Ki floats) is read from memory like the whole tensor.
   * The same bits either way.
   */
  static void reduceSample(float[] x, int xOffset, float[] dy, int dyOffset, int rows, int channels, float[] mean, float[] invStd,
                           float[] sumDy, float[] sumDyXhat, boolean streamed, boolean rowOrder) {
    reduceChannelsLast(x, xOffset, dy, dyOffset, rows, channels, mean, sumDy, sumDyXhat, streamed, rowOrder);
    scaleByInvStd(sumDyXhat, invStd, channels);
  }

  private static void reduceChannelsLast(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                                         float[] mean, float[] sumDy, float[] sumDyXhat, boolean streamed, boolean rowOrder) {
    int width = superWidth(channels);
    if (width >= 0) {
      int slot = scratchSlot(width);
      float[] s = Scratch.borrow(4 * slot);
      try {
        int used = reduceScratch(s, mean, channels, width, slot, (long) outer * channels);
        reduceSuperRows(x, xOffset, dy, dyOffset, outer * channels, width, s, slot, streamed, rowOrder);
        foldReduce(s, slot, channels, width, used, sumDy, sumDyXhat);
      } finally {
        Scratch.release(s);
      }
      return;
    }
    int vectorBound = SPECIES.loopBound(channels);
    if (channels >= 4 * LANES) {
      // Rows of four vectors or more: accumulate into the (L1-resident) output arrays in memory order, four rows
      // at a time (reduceFourRows), then the last rows one by one. Narrower rows keep register tiles: a
      // load-add-store chain per row would stall.
      java.util.Arrays.fill(sumDy, 0f);
      java.util.Arrays.fill(sumDyXhat, 0f);
      int four = fourRows(outer, channels) ? outer - outer % 4 : 0;
      for (int r = 0; r < four; r += 4) reduceFourRows(x, xOffset + r * channels, dy, dyOffset + r * channels, channels, mean, sumDy, sumDyXhat);
      for (int r = four; r < outer; r++) {
        int row = r * channels;
        for (int c = 0; c < vectorBound; c += LANES) {
          FloatVector g = FloatVector.fromArray(SPECIES, dy, dyOffset + row + c);
          g.add(FloatVector.fromArray(SPECIES, sumDy, c)).intoArray(sumDy, c);
          g.fma(FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c)),
              FloatVector.fromArray(SPECIES, sumDyXhat, c)).intoArray(sumDyXhat, c);
        }
        for (int c = vectorBound; c < channels; c++) { // scalar tail
          float g = dy[dyOffset + row + c];
          sumDy[c] += g;
          sumDyXhat[c] = Math.fma(g, x[xOffset + row + c] - mean[c], sumDyXhat[c]);
        }
      }
      return;
    }
    int blockRows = Blocking.rowsPerBlock(channels);
    for (int r0 = 0; r0 < outer; r0 += blockRows) {
      int n = Math.min(blockRows, outer - r0);
      int block = r0 * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        reduceTile1(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean, sumDy, sumDyXhat, c, r0 == 0);
      }
      for (; c < channels; c++) { // scalar tail
        ScalarBatchNormSupport.reduceStrided(x, xOffset + block + c, dy, dyOffset + block + c, channels, n, mean[c],
            sumDy, sumDyXhat, c, r0 == 0);
      }
    }
  }

  /**
   * Readies the super-row reduce's scratch ({@link #reduceSuperRows}, and the native one): mean tiled over the
   * positions the call touches, sumDy and sumDyXmu zeroed. Returns those positions: a call shorter than a super row
   * ({@code total < width}) touches only its first {@code total}; the rest keep their zeros, and adding +0 to a
   * sum that starts at +0 changes no bit, so they are neither tiled nor folded ({@link #foldReduce}). A 1x1 call
   * otherwise copied and folded 256 positions at 16 lanes (docs/probes/SmallCalls.java NC:1x1, backward: 6528 ns at the
   * thirtieth session's start, 515 at its end with the other small-call changes).
   */
  static int reduceScratch(float[] s, float[] mean, int channels, int width, int slot, long total) {
    int used = (int) Math.min(width, total);
    System.arraycopy(mean, 0, s, 0, channels);
    tileFilled(s, 0, channels, used);
    java.util.Arrays.fill(s, slot, 3 * slot, 0f);
    return used;
  }

  /** Each channel's positions of the super-row reduce's scratch added in a fixed order (the first {@code used}). */
  static void foldReduce(float[] s, int slot, int channels, int width, int used, float[] sumDy, float[] sumDyXhat) {
    for (int c = 0; c < channels; c++) {
      float g = 0, h = 0;
      for (int pos = c; pos < used; pos += channels) {
        int at = accumulatorIndex(pos, width);
        g += s[slot + at];
        h += s[2 * slot + at];
      }
      sumDy[c] = g;
      sumDyXhat[c] = h;
    }
  }

  /**
   * Whether the reduce of rows with no super row takes {@link #reduceFourRows}: rows of {@link #INTERLEAVED_MIN_WIDTH}
   * floats and more (runs of 4 KiB, as the wide super rows' walk), and narrower rows in calls of up to
   * {@link #FOUR_ROWS_MAX_FLOATS} (8 MiB a tensor, x and dy well inside L3). Narrower rows from memory keep the
   * row-by-row walk, one stream per array: four short runs side by side are followed worse by the prefetchers
   * (docs/performance-history.md: "Rows of one part side by side"). Reduce alone, one JVM per walk, alternating
   * (AVX-512 EPYC, Zen 5 class), four rows / row by row: NC 2000x300 0.70, 4000x300 0.68, 8000x130 0.65; from memory NC
   * 8000x300 (9.6 MB) 0.9-1.2, 16000x300 1.2-1.4, 30000x130 1.5-2.0, 16000x1000 1.0-1.35; wide rows NC 512x4097
   * 0.48-0.52, 4000x4097 (65 MB) 0.59-0.73, 2000x2050 0.54-0.72, 8000x1025 0.80-0.92. The native body takes the same
   * decision (the sum order depends on it).
   */
  static boolean fourRows(int outer, int channels) {
    return channels >= INTERLEAVED_MIN_WIDTH || (long) outer * channels <= FOUR_ROWS_MAX_FLOATS;
  }

  /** Rows at least this wide take the four-row apply ({@link #applyFourRows}; 2 KiB runs). */
  static final int APPLY_FOUR_ROWS_MIN_CHANNELS = 512;

  /** Calls of up to this many floats take {@link #reduceFourRows} whatever their row width ({@link #fourRows}). */
  static final int FOUR_ROWS_MAX_FLOATS = 2 * 1024 * 1024;

  /**
   * Four rows of {@code channels} floats (a ragged width with no super row) added to {@code sumDy} and
   * {@code sumDyXhat}: per position the four rows' vectors together, {@code sumDy + ((g0 + g1) + (g2 + g3))} and four
   * FMAs in row order, as the super rows' walks; the channel tail in scalar Java in the same order. One load and one
   * store of each sum per four rows instead of per row: row by row, the sums' round trips through L1 (two loads and
   * two stores per two data vectors) made NC 2000x1000's reduce 1.6-2.2x its neighbours' 992, 1008 and 1040 channels,
   * which take super rows. The native body ({@code PanamaNativeBackward.reduceRows}) does the same: the same bits.
   */
  private static void reduceFourRows(float[] x, int xs, float[] dy, int gs, int channels, float[] mean, float[] sumDy,
                                     float[] sumDyXhat) {
    int vectorBound = SPECIES.loopBound(channels), w2 = 2 * channels, w3 = 3 * channels;
    for (int c = 0; c < vectorBound; c += LANES) {
      FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
      FloatVector g0 = FloatVector.fromArray(SPECIES, dy, gs + c), g1 = FloatVector.fromArray(SPECIES, dy, gs + channels + c);
      FloatVector g2 = FloatVector.fromArray(SPECIES, dy, gs + w2 + c), g3 = FloatVector.fromArray(SPECIES, dy, gs + w3 + c);
      FloatVector.fromArray(SPECIES, sumDy, c).add(g0.add(g1).add(g2.add(g3))).intoArray(sumDy, c);
      FloatVector h = FloatVector.fromArray(SPECIES, sumDyXhat, c);
      h = g0.fma(FloatVector.fromArray(SPECIES, x, xs + c).sub(m), h);
      h = g1.fma(FloatVector.fromArray(SPECIES, x, xs + channels + c).sub(m), h);
      h = g2.fma(FloatVector.fromArray(SPECIES, x, xs + w2 + c).sub(m), h);
      g3.fma(FloatVector.fromArray(SPECIES, x, xs + w3 + c).sub(m), h).intoArray(sumDyXhat, c);
    }
    for (int c = vectorBound; c < channels; c++) { // scalar tail, the same order
      float m = mean[c], g0 = dy[gs + c], g1 = dy[gs + channels + c], g2 = dy[gs + w2 + c], g3 = dy[gs + w3 + c];
      sumDy[c] += (g0 + g1) + (g2 + g3);
      float h = Math.fma(g0, x[xs + c] - m, sumDyXhat[c]);
      h = Math.fma(g1, x[xs + channels + c] - m, h);
      h = Math.fma(g2, x[xs + w2 + c] - m, h);
      sumDyXhat[c] = Math.fma(g3, x[xs + w3 + c] - m, h);
    }
  }

  /** The pair walk's steps of four super rows from float {@code i} to {@code end} (see {@link #reduceSuperRows}); returns {@code end}. */
  private static int pairSteps(float[] x, int xOffset, float[] dy, int dyOffset, int i, int end, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot, t = 3 * slot;
    for (; i < end; i += 4 * width) { // two rows' vectors together: rows 0 and 1 (t = g0 + g1), then 2 and 3
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromArray(SPECIES, dy, dyOffset + p), g1 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + width);
        g0.add(g1).intoArray(s, t + j);
        FloatVector hj = g0.fma(FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m), FloatVector.fromArray(SPECIES, s, h + j));
        g1.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + width).sub(m), hj).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) { // sumDy += t + (g2 + g3)
        int p = i + 2 * width + j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g2 = FloatVector.fromArray(SPECIES, dy, dyOffset + p), g3 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + width);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(g2.add(g3))).intoArray(s, sum + j);
        FloatVector hj = g2.fma(FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m), FloatVector.fromArray(SPECIES, s, h + j));
        g3.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + width).sub(m), hj).intoArray(s, h + j);
      }
    }
    return i;
  }

  /**
   * Calls of at least this many floats (8 MiB a tensor: x and dy from memory or the far L3), and chunks of such tensors
   * ({@link #backwardReduceChunk}), reduce super rows narrower than {@link #INTERLEAVED_MIN_WIDTH} one row after the
   * other ({@link #rowOrderSteps}), in both kernels.
   */
  static final int ROW_ORDER_MIN_FLOATS = 2 * 1024 * 1024;

  /**
   * The backward reduce's steps of four super rows (narrower than {@link #INTERLEAVED_MIN_WIDTH}) from float {@code i}
   * to {@code end}, each row read whole before the next, so x and dy are each read as one forward stream: row 0 stores
   * {@code t = g0}, row 1 {@code t += g1} (the same bits as {@code g0 + g1}), row 3 adds {@code t + (g2 + g3)} to sumDy
   * with {@code g2} loaded again from row 2 (in L1; a load instead of a store and a slot), and every row adds its FMA to
   * sumDyXmu in row order: per position the operations of {@link #pairSteps} and {@link #fourRowsOnLines} in their
   * order, so the same bits. Returns {@code end}.
   *
   * <p>Why (twenty-eighth session, AMD EPYC Zen 4 class, 2 MiB L2, 32 MiB L3, 16 lanes): the walks that read four rows
   * side by side keep eight streams 1 KiB apart (at width 256), and on tensors past ~8 MiB they ran at 2-3.4x the time
   * of a plain read of x and dy; one row after the other runs at 1.4-1.7x it. The reduce alone
   * (docs/probes/RedVar.java), one JVM, the walks alternating (medians of 11 rounds, two JVMs; rows in order /
   * line-aligned four rows / the read): NC 8192x256 424-442 / 536-688 / 257-288 µs, 16384x256 970-1111 / 1941-2448 /
   * 634-798, NHWC 16x56x56x64 661-716 / 1339-1549 / 448-499, NHWC 32x56x56x32 692-882 / 1322-1960 / 444-584; NHWC
   * 64x56x56x64 (rows in order with a fifth slot for g2 instead of the reload) 4328-5708 / 8840-10490 / 4116-4270.
   * Smaller calls keep the four rows side by side: NC 4096x256 178-197 against 126-171 µs, and with the fifth slot NC
   * 2048x512 139-192 against 110-159, NHWC 32x28x28x32 131-174 against 89-134; so do super rows of
   * {@link #INTERLEAVED_MIN_WIDTH} floats and more (NHWC 32x7x7x2048 1136-1287 in order against 673-728 µs for the
   * interleaved walk). Earlier machines ranked the walks the other way: the seventeenth session's Intel Xeon read NC
   * 8192x256 in 1057 µs in memory order (a walk of the same operations) against 907 for the pairs, NHWC 64x56x56x64 in
   * 10.95 against 9.91 ms (docs/performance-history.md). The native body takes the same walk from the same size ({@code
   * PanamaNativeBackward.reduceRowOrder}).
   */
  private static int rowOrderSteps(float[] x, int xOffset, float[] dy, int dyOffset, int i, int end, int width, float[] s,
                                   int slot) {
    int sum = slot, h = 2 * slot, t = 3 * slot;
    for (; i < end; i += 4 * width) {
      int x0 = xOffset + i, g0 = dyOffset + i;
      for (int j = 0; j < width; j += LANES) { // row 0: t = g0
        FloatVector g = FloatVector.fromArray(SPECIES, dy, g0 + j);
        g.intoArray(s, t + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x0 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x1 = x0 + width, g1 = g0 + width;
      for (int j = 0; j < width; j += LANES) { // row 1: t += g1
        FloatVector g = FloatVector.fromArray(SPECIES, dy, g1 + j);
        FloatVector.fromArray(SPECIES, s, t + j).add(g).intoArray(s, t + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x1 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x2 = x1 + width, g2 = g1 + width;
      for (int j = 0; j < width; j += LANES) { // row 2: sumDyXmu only
        FloatVector g = FloatVector.fromArray(SPECIES, dy, g2 + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x2 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      int x3 = x2 + width, g3 = g2 + width;
      for (int j = 0; j < width; j += LANES) { // row 3: sumDy += t + (g2 + g3)
        FloatVector g = FloatVector.fromArray(SPECIES, dy, g3 + j);
        FloatVector pair = FloatVector.fromArray(SPECIES, dy, g2 + j).add(g);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(pair)).intoArray(s, sum + j);
        FloatVector d = FloatVector.fromArray(SPECIES, x, x3 + j).sub(FloatVector.fromArray(SPECIES, s, j));
        g.fma(d, FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
    }
    return i;
  }

  /**
   * The backward reduce's steps of four super rows (narrower than {@link #INTERLEAVED_MIN_WIDTH}) from float {@code i}
   * on, the four rows' vectors of a position together and each of the eight streams (four rows of x and of dy) rebuilt
   * from line-aligned loads, as the statistics' {@link #accumulate4Aligned}: the same lanes and, per position, the pair
   * walk's operations in its order ({@code sumDy + ((g0 + g1) + (g2 + g3))}, the four FMAs in row order), so the same
   * bits as {@link #pairSteps} and the native body. Stops before a step whose last aligned loads would pass an array's
   * end; returns the floats done. The caller runs the first step through {@link #pairSteps} when the line before it is
   * outside an array.
   *
   * <p>Why: at 16 lanes every load of a {@code float[]} at offset 0 spans two lines ({@link #head}). Switched against the
   * pair walk in one JVM (AVX-512 EPYC, Zen 5 class; 21 alternating rounds; bits equal; on / off medians), the reduce
   * alone: NHWC 32x14x14x256 0.65, 0.68, NC 8192x256 0.49-0.81, 4096x256 0.66, 2048x512 0.72, 100000x17 0.70, NHWC
   * 32x56x56x32 0.80 (1.06 as a JVM's first shape), 64x56x56x64 0.88, 16x56x56x64 0.88, NC 512x256 0.92, 256x256 0.93;
   * the whole backward NC 8192x256 0.66-0.94, NHWC 32x14x14x256 0.88-0.89, 32x56x56x32 0.81, 64x56x56x64 0.88. Not
   * taken under {@link #HEAD_MIN_FLOATS} (NC 1000x100 1.00-1.13, NHWC 7x13x13x17 0.97-1.07) nor at 8 lanes, where the
   * two-vector permute is several instructions ({@code -XX:UseAVX=2} on the same CPU: the backward 1.03-1.53x slower).
   * The pair walk four rows apart without the rebuild swung 0.86-1.14 with the arrays' placement.
   */
  private static int fourRowsOnLines(float[] x, int xOffset, float[] dy, int dyOffset, int i, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot;
    int hx = lineHead(xOffset), hg = lineHead(dyOffset);
    FloatVector ix = lineIndex(hx), ig = lineIndex(hg);
    for (; i + 4 * width <= total
        && xOffset + i + hx + 4 * width <= x.length && dyOffset + i + hg + 4 * width <= dy.length; i += 4 * width) {
      int ax = xOffset + i + hx, ag = dyOffset + i + hg;
      FloatVector px0 = FloatVector.fromArray(SPECIES, x, ax - LANES), px1 = FloatVector.fromArray(SPECIES, x, ax + width - LANES);
      FloatVector px2 = FloatVector.fromArray(SPECIES, x, ax + 2 * width - LANES), px3 = FloatVector.fromArray(SPECIES, x, ax + 3 * width - LANES);
      FloatVector pg0 = FloatVector.fromArray(SPECIES, dy, ag - LANES), pg1 = FloatVector.fromArray(SPECIES, dy, ag + width - LANES);
      FloatVector pg2 = FloatVector.fromArray(SPECIES, dy, ag + 2 * width - LANES), pg3 = FloatVector.fromArray(SPECIES, dy, ag + 3 * width - LANES);
      for (int j = 0; j < width; j += LANES) {
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector n0 = FloatVector.fromArray(SPECIES, dy, ag + j), n1 = FloatVector.fromArray(SPECIES, dy, ag + width + j);
        FloatVector n2 = FloatVector.fromArray(SPECIES, dy, ag + 2 * width + j), n3 = FloatVector.fromArray(SPECIES, dy, ag + 3 * width + j);
        FloatVector g0 = ig.selectFrom(pg0, n0), g1 = ig.selectFrom(pg1, n1), g2 = ig.selectFrom(pg2, n2), g3 = ig.selectFrom(pg3, n3);
        pg0 = n0;
        pg1 = n1;
        pg2 = n2;
        pg3 = n3;
        FloatVector.fromArray(SPECIES, s, sum + j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum + j);
        FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + j), c1 = FloatVector.fromArray(SPECIES, x, ax + width + j);
        FloatVector c2 = FloatVector.fromArray(SPECIES, x, ax + 2 * width + j), c3 = FloatVector.fromArray(SPECIES, x, ax + 3 * width + j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, h + j);
        hj = g0.fma(ix.selectFrom(px0, c0).sub(m), hj);
        hj = g1.fma(ix.selectFrom(px1, c1).sub(m), hj);
        hj = g2.fma(ix.selectFrom(px2, c2).sub(m), hj);
        g3.fma(ix.selectFrom(px3, c3).sub(m), hj).intoArray(s, h + j);
        px0 = c0;
        px1 = c1;
        px2 = c2;
        px3 = c3;
      }
    }
    return i;
  }

  /**
   * Backward sums over the tensor as one stream of super rows (see {@link #normalizeSuperRows}): per
   * position, {@code sum dy} and {@code sum dy*(x - mean)} accumulate in scratch
   * {@code [mean | sumDy | sumDyXmu | t]} ({@code slot} floats apart, see {@link #scratchSlot}), in steps of four super
   * rows: {@code sumDy += (g0 + g1) + (g2 + g3)} and {@code sumDyXmu} by four FMAs in row order.
   *
   * <p>Super rows narrower than {@link #INTERLEAVED_MIN_WIDTH} are read two at a time: rows 0 and 1 with a position's
   * two vectors of each together (storing {@code t = g0 + g1} and sumDyXmu), then rows 2 and 3 (adding
   * {@code t + (g2 + g3)} to sumDy): the same operations on the same values as loading the four rows' vectors of a
   * position together, so the same bits. Four streams (two rows of x, two of dy) one super row apart, and a scratch
   * round trip per position every two rows. The earlier walk read the four rows one after the other in memory order
   * (carrying g0 + g1 and g2 through scratch: two stores per vector), since the four-row walk (eight interleaved 1 KiB
   * runs at 16 lanes) ran at half the read bandwidth on the AVX-512 EPYC (NHWC 64x56x56x64 reduce 8.5-9.3 ms against
   * 3.6-5.0 ms, /tmp/nhwcbw13/probe BwProbe2, session 13). On the Sapphire-Rapids-class Xeon (2 MiB L2), width 256, one
   * JVM, the three walks alternating (medians of 11 rounds, pairs / memory order / four rows, with a plain read of x
   * and dy): NHWC 64x56x56x64 9.91 / 10.95 / 11.54 ms (read 9.89), NHWC 32x56x56x32 2.26 / 2.53 / 2.58 ms (2.16),
   * NC 8192x256 907 / 1057 / 962 us (867), NHWC 32x14x14x256 694 / 777 / 728 us (671), NC 512x256 31.6 / 47.3 / 29.8
   * us (21.7) (/tmp/bw17/probe RedProbe, session 17): the four-row walk wins only while x and dy are cached and loses
   * from memory, the pair walk is at or near the best at every size. Super rows of {@link #INTERLEAVED_MIN_WIDTH}
   * floats or more keep the four rows' vectors of a position together (same bits again), with sumDy and sumDyXmu in
   * reverse position order ({@link #accumulatorIndex}: the 4K aliasing of the pooled scratch). At 16 lanes, calls of
   * {@link #HEAD_MIN_FLOATS} or more read narrower super rows four at a time from line-aligned loads instead
   * ({@link #fourRowsOnLines}; the same bits).
   */
  private static void reduceSuperRows(float[] x, int xOffset, float[] dy, int dyOffset, int total, int width, float[] s,
                                      int slot, boolean streamed, boolean rowOrder) {
    int sum = slot, h = 2 * slot;
    // Wide rows: sumDy and sumDyXmu in reverse position order (accumulatorIndex), position j at o - j.
    int o = width - LANES, wideSum = sum + o, wideH = h + o;
    int i = 0;
    for (; width >= INTERLEAVED_MIN_WIDTH && i + 4 * width <= total; i += 4 * width) { // wide rows: the four rows' vectors together
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromArray(SPECIES, dy, dyOffset + p), g1 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + width);
        FloatVector g2 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + 2 * width), g3 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + 3 * width);
        FloatVector.fromArray(SPECIES, s, wideSum - j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, wideSum - j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, wideH - j);
        hj = g0.fma(FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m), hj);
        hj = g1.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + width).sub(m), hj);
        hj = g2.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + 2 * width).sub(m), hj);
        g3.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + 3 * width).sub(m), hj).intoArray(s, wideH - j);
      }
    }
    if (width < INTERLEAVED_MIN_WIDTH && rowOrder) { // see rowOrderSteps
      i = rowOrderSteps(x, xOffset, dy, dyOffset, i, total - total % (4 * width), width, s, slot);
    } else if (LANES >= 16 && width < INTERLEAVED_MIN_WIDTH && streamed) { // see fourRowsOnLines
      if ((lineHead(xOffset) + xOffset < LANES || lineHead(dyOffset) + dyOffset < LANES) && 4 * width <= total) {
        i = pairSteps(x, xOffset, dy, dyOffset, i, i + 4 * width, width, s, slot); // the line before it is outside the array
      }
      i = fourRowsOnLines(x, xOffset, dy, dyOffset, i, total, width, s, slot);
    }
    i = pairSteps(x, xOffset, dy, dyOffset, i, total - total % (4 * width), width, s, slot);
    // The last super rows, then the floats that do not fill one (the pattern continues), a vector at a time.
    int vectorBound = SPECIES.loopBound(total), j = 0;
    for (; i < vectorBound; i += LANES, j = j + LANES == width ? 0 : j + LANES) {
      int a = accumulatorIndex(j, width);
      FloatVector g = FloatVector.fromArray(SPECIES, dy, dyOffset + i);
      FloatVector.fromArray(SPECIES, s, sum + a).add(g).intoArray(s, sum + a);
      g.fma(FloatVector.fromArray(SPECIES, x, xOffset + i).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + a))
          .intoArray(s, h + a);
    }
    for (; i < total; i++, j++) { // scalar tail
      int a = accumulatorIndex(j, width);
      float g = dy[dyOffset + i];
      s[sum + a] += g;
      s[h + a] = Math.fma(g, x[xOffset + i] - s[j], s[h + a]);
    }
  }

  /**
   * Floats between the backward reduce's scratch arrays: the super row's width plus two vectors, so that a store to
   * one array and a load from another at the same position are not a multiple of 4 KiB apart (which looks like a
   * dependence to the load unit until the store's address resolves). Unpadded, width 256 put mean and the (since
   * dropped) fifth array 4 KiB apart, width 512 mean and sumDyXmu; at width 1024 (all five) the memory-order walk took 5.9-7.4 ms on NHWC 12544x1024
   * against 5.0-5.6 ms padded (that width now takes the interleaved walk, see {@link #INTERLEAVED_MIN_WIDTH}).
   */
  static int scratchSlot(int width) {
    return width + 2 * LANES;
  }

  /**
   * Where float {@code pos} of a super row lies in {@link #reduceSuperRows}' sumDy and sumDyXmu: in place for super
   * rows narrower than {@link #INTERLEAVED_MIN_WIDTH}; for wider ones its vector's position in reverse order
   * ({@code width - LANES - j} for the vector at {@code j}), its lane in place. In order, the interleaved walk's stores
   * kept one distance from the x and dy streams modulo 4 KiB, and a pooled scratch array that lay within about
   * -450..+250 B of x or dy (mod 4 KiB) made the loads wait on the stores ("4K aliasing"); reversed, the distance
   * sweeps the whole 4 KiB in every row, so every placement sees the same few stalls. NC 128x1024 (a
   * ParallelBatchNorm chunk), one JVM, both kernels alternating over 32 placements 128 B apart: 18.5-38.1 µs (mean
   * 21.3) in order, 19.4-24.4 µs (mean 20.5) reversed. Narrower rows (the memory-order walk, width 256) were slower
   * reversed on NHWC 3136x64 (41.9 against 28.7 µs at the best placement) and keep the order.
   */
  static int accumulatorIndex(int pos, int width) {
    if (width < INTERLEAVED_MIN_WIDTH) return pos;
    int lane = pos % LANES;
    return width - LANES - (pos - lane) + lane;
  }

  /**
   * Super rows at least this wide (runs of 4 KiB and more) keep the four rows' vectors of a position together: the
   * prefetchers follow such runs, and the memory-order walk's scratch round trips (two stores per vector instead of
   * half a store) and its 5 * width floats of scratch (40 KiB at width 2048, more than L1) cost more than they save:
   * NHWC 32x7x7x2048 reduce 1.6 ms in memory order against 1.0 ms (BwProbe2, one JVM each, same load). At width 1024
   * the two walks took the same time on NHWC 12544x1024 (5.0-5.6 against 4.9-5.5 ms).
   */
  static final int INTERLEAVED_MIN_WIDTH = 1024;

  // Loops written out, not calls of reducePlane: a call per short plane cost 1.16x on NCHW 32x2048x49 (the
  // reduce alone; with the apply also through applyPlanes, 1.45x), two runs of a probe against this body.
  private static void reduceChannelsFirst(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels,
                                          int inner, float[] mean, float[] sumDy, float[] sumDyXhat) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
        FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i < upperBound; i += 2 * LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i), dy1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
          g0 = g0.add(dy0);
          g1 = g1.add(dy1);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
          h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, xs + i + LANES).sub(m), h1);
        }
        for (; i < vectorBound; i += LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i);
          g0 = g0.add(dy0);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
        }
        float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
        for (; i < inner; i++) { // scalar tail
          float g = dy[gs + i];
          sDy += g;
          sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
        }
        addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
      }
    }
  }

  /** Plane (o, c)'s sums, added to channel c's (assigned for o == 0): any loop order that keeps o ascending per channel gives the same bits. */
  private static void reducePlane(float[] x, int xOffset, float[] dy, int dyOffset, int o, int channels, int inner,
                                  int c, float[] mean, float[] sumDy, float[] sumDyXhat) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
    int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
    FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int i = 0;
    for (; i < upperBound; i += 2 * LANES) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i), dy1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, xs + i + LANES).sub(m), h1);
    }
    for (; i < vectorBound; i += LANES) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
    }
    float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
    for (; i < inner; i++) { // scalar tail
      float g = dy[gs + i];
      sDy += g;
      sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
    }
    addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
  }

  /** Plane o's sums into channel c's: assigned for o == 0, added after (o ascending per channel, as every caller walks). */
  static void addPlaneSums(float[] sumDy, float[] sumDyXhat, int c, int o, float sDy, float sDyX) {
    if (o == 0) {
      sumDy[c] = sDy;
      sumDyXhat[c] = sDyX;
    } else {
      sumDy[c] += sDy;
      sumDyXhat[c] += sDyX;
    }
  }

  private static void reduceTile1(float[] x, int xStart, float[] dy, int dyStart, int stride, int n,
                                  float[] mean, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES), h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int r = 0, p = xStart, q = dyStart;
    for (; r + 1 < n; r += 2, p += 2 * stride, q += 2 * stride) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, q), dy1 = FloatVector.fromArray(SPECIES, dy, q + stride);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, p).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, p + stride).sub(m), h1);
    }
    if (r < n) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, q);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, p).sub(m), h0);
    }
    accumulate(g0.add(g1), h0.add(h1), sumDy, sumDyXmu, c, first);
  }

  private static void accumulate(FloatVector g, FloatVector h, float[] sumDy, float[] sumDyXmu, int c, boolean first) {
    if (!first) {
      g = g.add(FloatVector.fromArray(SPECIES, sumDy, c));
      h = h.add(FloatVector.fromArray(SPECIES, sumDyXmu, c));
    }
    g.intoArray(sumDy, c);
    h.intoArray(sumDyXmu, c);
  }

  @Override
  public void backwardApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                            int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma,
                            float[] sumDy, float[] sumDyXhat, double count) {
    if (inner == 1) {
      applyChannelsLast(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, mean, invStd, gamma, sumDy, sumDyXhat, count);
    } else if (inner >= FUSED_MIN_INNER) {
      // Long planes: the tensor from its end back, plane by plane (see applyPlanes). Callers reduce over the same
      // data just before (ParallelBatchNorm's per-plane reduce then apply, synchronized batch norm), forward, so
      // its end is what L2 still holds. Elementwise: the same bits in any order.
      for (int o = outer - 1; o >= 0; o--) {
        for (int c = channels - 1; c >= 0; c--) {
          applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, o, o + 1, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat, count);
        }
      }
    } else {
      applyChannelsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, 0, channels, mean, invStd, gamma, sumDy,
          sumDyXhat, count);
    }
  }

  /**
   * Row by row with per-channel {@code a, b, k} folded into pooled scratch first (as normalize):
   * {@code dx = a*dy + b*(x - mean) + k}, two FMAs per element, from the tensor's end back in blocks of rows
   * (see {@link #applySuperRowsFromEnd}); with the coefficients in registers when their pattern repeats within four
   * vectors ({@link #registerStride}, {@link #applyRegistersFromEnd}).
   */
  private static void applyChannelsLast(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                        int outer, int channels, float[] mean, float[] invStd, float[] gamma,
                                        float[] sumDy, float[] sumDyXhat, double count) {
    int width = superWidth(channels);
    float[] coef = Coefficients.backward(Scratch.borrow(4 * channels + 4 * Math.max(width, 0)), channels, invStd, gamma, sumDy,
        sumDyXhat, count);
    try {
      if (width < 0) {
        int block = Math.max(1, ROWS_APPLY_BLOCK / channels); // rows a block: each block forwards, the blocks from the end back
        for (int hi = outer; hi > 0; hi -= block) {
          int lo = Math.max(0, hi - block);
          applyRows(x, xOffset + lo * channels, dy, dyOffset + lo * channels, dx, dxOffset + lo * channels, hi - lo, channels,
              mean, coef);
        }
      } else {
        System.arraycopy(mean, 0, coef, 3 * channels, channels);
        applyPattern(x, xOffset, dy, dyOffset, dx, dxOffset, outer * channels, channels, width, coef);
      }
    } finally {
      Scratch.release(coef);
    }
  }

  /**
   * The channels-last apply of {@code total} floats (whole rows) for channels with a super row ({@code width >= 0}):
   * {@code coef} holds {@code [a | b | k | mean]} per channel (at least {@code 4 * channels + 4 * width} floats; the
   * pattern is tiled over a super row at {@code 4 * channels} here). The floats before the first line boundary
   * ({@link #head}) one at a time, then vectors from that line on: with the coefficients in registers when their
   * pattern repeats within four vectors ({@link #registerStride}), else from the pattern in scratch; both from the end
   * back. Group norm's channels-last backward applies each sample (or row range) through this too.
   */
  static void applyPattern(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int total, int channels,
                           int width, float[] coef) {
    int h = head(xOffset, total); // vectors from a line on (head)
    tilePattern(coef, 0, channels, 4, 4 * channels, width, h % channels); // [a | b | k | mean] over a super row from channel h
    for (int i = 0, c = 0; i < h; i++, c = c + 1 == channels ? 0 : c + 1) { // the head, one float at a time: the vector loop's formula
      dx[dxOffset + i] = Math.fma(dy[dyOffset + i], coef[c], Math.fma(x[xOffset + i] - coef[3 * channels + c], coef[channels + c],
          coef[2 * channels + c]));
    }
    int stride = registerStride(channels);
    if (stride > 0) {
      applyRegistersFromEnd(x, xOffset + h, dy, dyOffset + h, dx, dxOffset + h, total - h, width, stride, coef, 4 * channels);
    } else {
      applySuperRowsFromEnd(x, xOffset + h, dy, dyOffset + h, dx, dxOffset + h, total - h, width, coef, 4 * channels);
    }
  }

  /**
   * Floats per step of the register-held loops (the apply, {@link #applyRegistersFromEnd}, and the forward,
   * {@link #normalizePattern}): when the coefficient pattern repeats
   * within four vectors ({@code lcm(channels, LANES) <= 4 * LANES}: at 16 lanes 1, 2, 4, 8, 16, 32, 64 channels and
   * 3, 6, 12, 24, 48), four vectors, or three for a period of three vectors; -1 otherwise (the pattern is read from
   * scratch, {@link #applySuperRows}). Apply alone, after a reduce, against {@link #applySuperRowsFromEnd} (AVX-512 EPYC,
   * one JVM, alternating): 0.72-0.73x on L2/L3-sized tensors (C = 16, 32), 0.86x on NHWC 32x56x56x32, 0.99x on NHWC
   * 64x56x56x64, which runs at the speed of a plain two-read-one-write vector loop either way (memory-bound). Wider
   * periods were slower held in registers: tiles of four vectors walking a block's rows 1.5-10x (C = 256, 1024; C = 64
   * at 8 lanes), two or four super rows per coefficient load 1.2-2.2x except at C = 2048 (0.72-0.77x, not taken).
   */
  static int registerStride(int channels) {
    long period = (long) channels / gcd(channels, LANES) * LANES;
    if (period > 4 * LANES) return -1;
    return period == 3 * LANES ? 3 * LANES : 4 * LANES;
  }

  /**
   * {@link #applySuperRowsFromEnd} with the coefficients in registers: the tensor in memory order, from its end back in
   * blocks of whole steps of {@code stride} floats (see {@link #registerStride}), the part step at the end first (through
   * {@link #applySuperRows}). Each step's vectors have fixed channels, so {@code a, b, k, mean} of its three or four
   * vectors are loaded once a block instead of once a vector: two loads and a store per vector of dx, not six and a store.
   * The same two FMAs per element, so the same bits; each step loads its x and dy before it stores dx (dx may be x or dy).
   */
  static void applyRegistersFromEnd(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int total,
                                    int width, int stride, float[] coef, int at) {
    int full = total - total % stride, block = stride * Math.max(1, ROWS_APPLY_BLOCK / stride);
    applySuperRows(x, xOffset + full, dy, dyOffset + full, dx, dxOffset + full, total - full, width, coef, at);
    for (int hi = full; hi > 0; hi -= block) {
      int lo = Math.max(0, hi - block);
      if (stride == 4 * LANES) {
        applyRegisters4(x, xOffset + lo, dy, dyOffset + lo, dx, dxOffset + lo, hi - lo, width, coef, at);
      } else {
        applyRegisters3(x, xOffset + lo, dy, dyOffset + lo, dx, dxOffset + lo, hi - lo, width, coef, at);
      }
    }
  }

  /** {@code n} floats (whole steps of four vectors, starting at the pattern's start), coefficients in registers. */
  private static void applyRegisters4(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int n, int width,
                                      float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES), b3 = FloatVector.fromArray(SPECIES, coef, b + 3 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES), k3 = FloatVector.fromArray(SPECIES, coef, k + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    for (int i = 0; i < n; i += 4 * LANES) {
      FloatVector x0 = FloatVector.fromArray(SPECIES, x, xs + i), x1 = FloatVector.fromArray(SPECIES, x, xs + i + LANES);
      FloatVector x2 = FloatVector.fromArray(SPECIES, x, xs + i + 2 * LANES), x3 = FloatVector.fromArray(SPECIES, x, xs + i + 3 * LANES);
      FloatVector g0 = FloatVector.fromArray(SPECIES, dy, gs + i), g1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
      FloatVector g2 = FloatVector.fromArray(SPECIES, dy, gs + i + 2 * LANES), g3 = FloatVector.fromArray(SPECIES, dy, gs + i + 3 * LANES);
      g0.fma(a0, x0.sub(m0).fma(b0, k0)).intoArray(dx, ds + i);
      g1.fma(a1, x1.sub(m1).fma(b1, k1)).intoArray(dx, ds + i + LANES);
      g2.fma(a2, x2.sub(m2).fma(b2, k2)).intoArray(dx, ds + i + 2 * LANES);
      g3.fma(a3, x3.sub(m3).fma(b3, k3)).intoArray(dx, ds + i + 3 * LANES);
    }
  }

  /** As {@link #applyRegisters4} for a pattern of three vectors: steps of three vectors. */
  private static void applyRegisters3(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int n, int width,
                                      float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    for (int i = 0; i < n; i += 3 * LANES) {
      FloatVector x0 = FloatVector.fromArray(SPECIES, x, xs + i), x1 = FloatVector.fromArray(SPECIES, x, xs + i + LANES);
      FloatVector x2 = FloatVector.fromArray(SPECIES, x, xs + i + 2 * LANES);
      FloatVector g0 = FloatVector.fromArray(SPECIES, dy, gs + i), g1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
      FloatVector g2 = FloatVector.fromArray(SPECIES, dy, gs + i + 2 * LANES);
      g0.fma(a0, x0.sub(m0).fma(b0, k0)).intoArray(dx, ds + i);
      g1.fma(a1, x1.sub(m1).fma(b1, k1)).intoArray(dx, ds + i + LANES);
      g2.fma(a2, x2.sub(m2).fma(b2, k2)).intoArray(dx, ds + i + 2 * LANES);
    }
  }

  /**
   * {@link #applySuperRows} from the tensor's end back, in blocks of whole super rows of about {@link #ROWS_APPLY_BLOCK}
   * floats (each block forwards), the part row at the end first. The reduce has just swept x and dy forwards, so the
   * cache holds their end and has evicted their start; a forward walk would evict each cached line just before
   * reaching it (LRU over more than the cache holds: NC 256x1024's x and dy are 2 MiB against a 2 MiB L2), walking
   * back reads the cached part first: NC 256x1024 backward 144 against 174-175 µs (peers harness, 1 thread).
   * Elements are independent, so the order changes no bit (as {@link #applyPlanes} for long channels-first planes).
   */
  static void applySuperRowsFromEnd(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int total,
                                    int width, float[] coef, int at) {
    int full = total - total % width, block = width * Math.max(1, ROWS_APPLY_BLOCK / width);
    applySuperRows(x, xOffset + full, dy, dyOffset + full, dx, dxOffset + full, total - full, width, coef, at);
    for (int hi = full; hi > 0; hi -= block) {
      int lo = Math.max(0, hi - block);
      applySuperRows(x, xOffset + lo, dy, dyOffset + lo, dx, dxOffset + lo, hi - lo, width, coef, at);
    }
  }

  /**
   * Floats per block of the channels-last apply's walk from the end back (256 KiB of each array). Blocks of
   * {@link #APPLY_BLOCK} (16 KiB runs, each ascending, the runs descending) ran the NHWC 64x56x56x64 apply after the
   * reduce at 1.3x a forward walk on the AVX-512 EPYC; blocks of 32-1024 Ki floats matched the forward walk
   * (reduce + apply 9.3-9.9 ms against 12.3 ms, BwProbe3), and still read an L2-sized tensor's cached end first.
   */
  static final int ROWS_APPLY_BLOCK = 64 * 1024;

  /** As {@link #normalizeSuperRows}, for {@code dx = a*dy + b*(x - mean) + k}. */
  static void applySuperRows(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int total,
                                     int width, float[] coef, int at) {
    int i = 0;
    for (; i + width <= total; i += width) {
      for (int j = 0; j < width; j += LANES) {
        FloatVector xm = FloatVector.fromArray(SPECIES, x, xOffset + i + j).sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + j));
        FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, at + width + j), FloatVector.fromArray(SPECIES, coef, at + 2 * width + j));
        FloatVector.fromArray(SPECIES, dy, dyOffset + i + j).fma(FloatVector.fromArray(SPECIES, coef, at + j), inner).intoArray(dx, dxOffset + i + j);
      }
    }
    int rest = total - i, j = 0; // rows that do not fill a super row: the pattern continues
    for (; j < SPECIES.loopBound(rest); j += LANES) {
      FloatVector xm = FloatVector.fromArray(SPECIES, x, xOffset + i + j).sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + j));
      FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, at + width + j), FloatVector.fromArray(SPECIES, coef, at + 2 * width + j));
      FloatVector.fromArray(SPECIES, dy, dyOffset + i + j).fma(FloatVector.fromArray(SPECIES, coef, at + j), inner).intoArray(dx, dxOffset + i + j);
    }
    for (; j < rest; j++) { // scalar tail
      int c = at + j, p = i + j;
      dx[dxOffset + p] = Math.fma(dy[dyOffset + p], coef[c], Math.fma(x[xOffset + p] - coef[c + 3 * width], coef[c + width], coef[c + 2 * width]));
    }
  }

  /**
   * {@code dx = a*dy + b*(x - mean) + k} over rows with no super row ({@code coef = [a | b | k]} per channel, the
   * means in {@code mean}): rows of {@link #APPLY_FOUR_ROWS_MIN_CHANNELS} floats and more four at a time
   * ({@link #applyFourRows}), then the last rows (all rows when narrower) one by one. Elementwise, so the same bits
   * in any grouping.
   */
  static void applyRows(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                int channels, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(channels), four = channels >= APPLY_FOUR_ROWS_MIN_CHANNELS ? outer - outer % 4 : 0;
    for (int r = 0; r < four; r += 4) {
      int row = r * channels;
      applyFourRows(x, xOffset + row, dy, dyOffset + row, dx, dxOffset + row, channels, mean, coef);
    }
    for (int r = four; r < outer; r++) {
      int row = r * channels;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector xm = FloatVector.fromArray(SPECIES, x, xOffset + row + c).sub(FloatVector.fromArray(SPECIES, mean, c));
        FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, channels + c), FloatVector.fromArray(SPECIES, coef, 2 * channels + c));
        FloatVector.fromArray(SPECIES, dy, dyOffset + row + c).fma(FloatVector.fromArray(SPECIES, coef, c), inner)
            .intoArray(dx, dxOffset + row + c);
      }
      for (; c < channels; c++) { // scalar tail
        dx[dxOffset + row + c] = Math.fma(dy[dyOffset + row + c], coef[c],
            Math.fma(x[xOffset + row + c] - mean[c], coef[channels + c], coef[2 * channels + c]));
      }
    }
  }

  /**
   * Four rows of {@link #applyRows}: each position's {@code a, b, k, mean} loaded once for the four rows' vectors, three
   * loads and a store per vector of dx instead of six and a store. Each row's x and dy are loaded before its dx is
   * stored (dx may be x or dy). Whole backward, in one JVM against the row-by-row apply (AVX-512 EPYC, Zen 5 class;
   * both libraries loaded side by side, 21 alternating rounds, medians of the ratio, float[] / native): NC 1568x1000
   * 0.89 / 0.78, 2000x1000 0.85 / 0.80, 4000x520 0.87 / 0.87, 3000x600 0.88 / 0.81, 2000x700 0.86 / 0.90; in L2
   * 400x600 1.02 / 1.00, 200x1000 0.95 / 1.08, 64x1000 0.97 / 0.97. Narrower rows lost (four short runs side by side
   * for each of x, dy and dx): NC 1000x130 1.05 / 1.06, 4000x300 1.09 / 1.13; hence {@link #APPLY_FOUR_ROWS_MIN_CHANNELS}.
   */
  private static void applyFourRows(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int channels, float[] mean,
                                    float[] coef) {
    int vectorBound = SPECIES.loopBound(channels), w2 = 2 * channels, w3 = 3 * channels;
    for (int c = 0; c < vectorBound; c += LANES) {
      FloatVector m = FloatVector.fromArray(SPECIES, mean, c), a = FloatVector.fromArray(SPECIES, coef, c);
      FloatVector b = FloatVector.fromArray(SPECIES, coef, channels + c), k = FloatVector.fromArray(SPECIES, coef, w2 + c);
      FloatVector.fromArray(SPECIES, dy, gs + c).fma(a, FloatVector.fromArray(SPECIES, x, xs + c).sub(m).fma(b, k)).intoArray(dx, ds + c);
      FloatVector.fromArray(SPECIES, dy, gs + channels + c).fma(a, FloatVector.fromArray(SPECIES, x, xs + channels + c).sub(m).fma(b, k))
          .intoArray(dx, ds + channels + c);
      FloatVector.fromArray(SPECIES, dy, gs + w2 + c).fma(a, FloatVector.fromArray(SPECIES, x, xs + w2 + c).sub(m).fma(b, k))
          .intoArray(dx, ds + w2 + c);
      FloatVector.fromArray(SPECIES, dy, gs + w3 + c).fma(a, FloatVector.fromArray(SPECIES, x, xs + w3 + c).sub(m).fma(b, k))
          .intoArray(dx, ds + w3 + c);
    }
    for (int r = 0; r <= w3; r += channels) { // the four rows' channel tails
      for (int c = vectorBound; c < channels; c++) { // scalar tail
        dx[ds + r + c] = Math.fma(dy[gs + r + c], coef[c], Math.fma(x[xs + r + c] - mean[c], coef[channels + c], coef[w2 + c]));
      }
    }
  }

  private static void applyChannelsFirst(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset,
                                         int outer, int channels, int inner, int cFrom, int cTo, float[] mean, float[] invStd,
                                         float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    int vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      for (int c = cFrom; c < cTo; c++) {
        float a = Coefficients.backwardA(invStd, gamma, c);
        FloatVector va = FloatVector.broadcast(SPECIES, a);
        FloatVector vb = FloatVector.broadcast(SPECIES, Coefficients.backwardB(a, invStd, sumDyXhat, count, c));
        FloatVector vk = FloatVector.broadcast(SPECIES, Coefficients.backwardK(a, sumDy, count, c));
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        int off = (o * channels + c) * inner;
        int i = 0;
        for (; i < vectorBound; i += LANES) {
          int p = off + i;
          FloatVector.fromArray(SPECIES, dy, dyOffset + p)
              .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m).fma(vb, vk)).intoArray(dx, dxOffset + p);
        }
        int p = off + i; // scalar tail
        ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 1, inner - i,
            mean, invStd, gamma, sumDy, sumDyXhat, count, c);
      }
    }
  }

  /**
   * Last reduced, first applied: planes (o, c) for o from {@code to - 1} down to {@code from}, each plane's
   * vectors in blocks of {@link #APPLY_BLOCK} from its end back to its start (ascending inside a block, for the
   * prefetcher). After a channel's reduce, L2 holds the most recently read floats (the channel's end) and has
   * evicted its start; walking back reads the cached floats before the apply's own traffic (dx lines, the
   * uncached early planes) evicts them, where a forward walk would evict each line just before reaching it
   * (LRU over a channel larger than L2: an RGB batch of 8 at 224x224, N=8 C=3, has 3.2 MB of x and dy per channel,
   * N=2 C=3 at 512x512 4 MB, in planes of 1 MB). Elements are independent, so the order changes no bit.
   */
  private static void applyPlanes(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int from, int to,
                                  int channels, int inner, int c, float[] mean, float[] invStd, float[] gamma,
                                  float[] sumDy, float[] sumDyXhat, double count) {
    int vectorBound = SPECIES.loopBound(inner);
    float a = Coefficients.backwardA(invStd, gamma, c);
    FloatVector va = FloatVector.broadcast(SPECIES, a);
    FloatVector vb = FloatVector.broadcast(SPECIES, Coefficients.backwardB(a, invStd, sumDyXhat, count, c));
    FloatVector vk = FloatVector.broadcast(SPECIES, Coefficients.backwardK(a, sumDy, count, c));
    FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
    boolean overlapTail = vectorBound != inner && inner > LANES;
    for (int o = to - 1; o >= from; o--) {
      int off = (o * channels + c) * inner, t = off + inner - LANES;
      FloatVector lastDy = FloatVector.zero(SPECIES), lastX = lastDy; // not null: C2 boxes a vector merged with null (160 B a call)
      if (overlapTail) { // as in normalizeChannelsFirst: a last vector ending at the plane's end, loaded first (dx may be x or dy)
        lastDy = FloatVector.fromArray(SPECIES, dy, dyOffset + t);
        lastX = FloatVector.fromArray(SPECIES, x, xOffset + t);
      }
      for (int hi = vectorBound; hi > 0; hi -= APPLY_BLOCK) { // APPLY_BLOCK is a multiple of LANES: every block starts on a vector
        for (int i = Math.max(0, hi - APPLY_BLOCK); i < hi; i += LANES) {
          int p = off + i;
          FloatVector.fromArray(SPECIES, dy, dyOffset + p)
              .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m).fma(vb, vk)).intoArray(dx, dxOffset + p);
        }
      }
      if (overlapTail) {
        lastDy.fma(va, lastX.sub(m).fma(vb, vk)).intoArray(dx, dxOffset + t);
      } else { // scalar tail (planes shorter than a vector)
        int p = off + vectorBound;
        ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 1, inner - vectorBound,
            mean, invStd, gamma, sumDy, sumDyXhat, count, c);
      }
    }
  }

  /**
   * Whether the fused backward on planes of {@link BatchNormSupport#FUSED_MIN_INNER}+ floats reduces the whole tensor in
   * memory order and then applies it ({@link #reduceChannelsFirst}, {@link #applyChannelsFirst}: x and dy read twice, the
   * second time from L2/L3 or memory) instead of walking it channel by channel ({@link #pipelined}: each channel's planes,
   * one slab apart, read once from memory, again from L1/L2). The channel walk starts a new short run of lines per plane
   * and loses on short planes, many planes per channel, and tensors beyond the L2; memory order loses when the second
   * read costs most, on long planes of tensors beyond the L3 and on tensors of a few MB with few planes per channel.
   * One thread, AMD EPYC (1 MiB L2, 32 MiB L3), memory order / channel walk, medians of 5-9 alternating rounds in one JVM
   * (jmh ShortPlaneProbe, walks lib,mem; cf16, session 16): planes under 320 floats 0.36-0.85 on tensors of 1-42 MB, 0.80
   * on 0.3 MB (N=2); 320-511 floats with N=8+ 0.88-0.97, N=2-4 0.96-1.11; 400-2048 floats on tensors of 5.2-42 MB
   * 0.60-0.97 (N=4 and 32), 1.00-1.16 at 0.3-4.2 MB and N=2-16; 2560 floats 0.85-0.90 at 6.6 MB, 1.00-1.06 at 42 MB; 3136
   * and 4096 floats 1.03-1.15 at 42 MB. JMH {@code Vector.backward} (main against this rule, 3 alternating forks a side)
   * agreed except near 5 MB with few planes a channel: NCHW 4x1x784x417 (5.2 MB) 1.08 and 4x1x1600x204 1.01, where
   * 32x1x1600x30 (6.1 MB) took 0.75, 4x1x784x1024 (12.8 MB) 0.75 and 2x1x1024x2560 (21 MB) 0.77; hence the larger
   * bound for fewer than 8 planes a channel.
   */
  static boolean memoryOrder(int outer, int channels, int inner) {
    if (inner < MEMORY_ORDER_SHORT) return true;
    if (inner < MEMORY_ORDER_MANY && outer >= MEMORY_ORDER_MANY_OUTER) return true;
    long size = (long) outer * channels * inner;
    return inner < MEMORY_ORDER_LONG && size >= (outer >= MEMORY_ORDER_MANY_OUTER ? MEMORY_ORDER_MIN_SIZE : MEMORY_ORDER_FEW_MIN_SIZE);
  }

  /** Planes shorter than this go in memory order at any size (see {@link #memoryOrder}). */
  static final int MEMORY_ORDER_SHORT = 320;
  /** Planes shorter than this go in memory order when a channel has at least {@link #MEMORY_ORDER_MANY_OUTER} of them. */
  static final int MEMORY_ORDER_MANY = 512;
  static final int MEMORY_ORDER_MANY_OUTER = 8;
  /**
   * Planes shorter than this go in memory order in tensors of at least {@link #MEMORY_ORDER_MIN_SIZE} floats (5 MiB) with
   * 8+ planes a channel, {@link #MEMORY_ORDER_FEW_MIN_SIZE} (8 MiB) with fewer.
   */
  static final int MEMORY_ORDER_LONG = 2560;
  static final long MEMORY_ORDER_MIN_SIZE = 5L << 18, MEMORY_ORDER_FEW_MIN_SIZE = 1L << 21;

  /**
   * Whether the channel walk of the channels-first backward pipelines planes of one apply block ({@link #pipelined}, and
   * the native body's {@code PanamaNativeBackward.pipelined}): only below 16 lanes. It was measured a win at 8 lanes (AVX2,
   * tenth session: NCHW 32x14x14x256 1130-1196 against 1420-1443 µs, 64x56x56x64 16.7-16.8 against 17.9-19.6 ms, README).
   * At 16 lanes (AVX-512 EPYC, Zen 5 class, session 21) the plain channel walk (a channel's planes reduced, then applied
   * last plane first) was faster or the same on every shape tried: switched in one JVM, pipelined over plain, medians of
   * 21-31 alternating rounds, {@code float[]} NCHW 64x56x56x64 1.214 and 1.189, 16x32x60x60 1.127 and 1.058, 8x64x56x56
   * 1.022 and 1.099, 32x16x50x50 1.060, 4x16x28x28 1.082, 2x64x112x112 1.00, 32x64x28x28 1.00; native segments
   * 64x56x56x64 1.123, 16x32x60x60 1.021, 8x64x56x56 1.014, 2x64x112x112 1.014, 32x16x50x50 1.034 (8x3x224x224, planes
   * past one block, 1.000 as a control). Both walks
   * make the same sums in the same order, so the choice changes no bit (FusedBackwardOrderTest runs both at any width).
   */
  static final boolean PIPELINE = LANES < 16;

  /** Floats per block of the fused backward's reverse apply (16 KiB of each array: four pages ascending, for the prefetcher). */
  static final int APPLY_BLOCK = 4096;

  /**
   * Channels-first: reduce and apply one channel at a time, as ATen's contiguous backward does. A
   * channel's planes (x and dy, {@code 2 * outer * inner} floats) are read by the reduce and read
   * again by the apply right after, from L2 while they fit there, instead of from L3 or memory after a
   * sweep over the whole tensor. Planes shorter than {@link BatchNormSupport#FUSED_MIN_INNER} stay in memory
   * order, and so do short planes where the channel walk was measured slower ({@link #memoryOrder}). A channel larger than L2 (eight 224x224 planes: 3.2 MB of x and dy) is applied from its end back
   * ({@link #applyPlanes}), so its last ~2 MB still come from L2. Planes of one apply block or less are
   * {@link #pipelined}: each channel's reduce shares its loop with the previous channel's apply. The same
   * arithmetic in the same order per channel as reduce-then-apply, so the same bits.
   */
  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer, int channels,
                       int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    if (inner < FUSED_MIN_INNER) {
      // Channels-last, or planes so short that walking one channel's planes (a jump of a slab each) stalls on a
      // miss per plane: NCHW 32x7x7x2048 took 2.9x longer channel by channel than in memory order.
      BatchNormSupport.super.backward(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma,
          sumDy, sumDyXhat, count);
      return;
    }
    if (memoryOrder(outer, channels, inner)) { // as below FUSED_MIN_INNER: the same sums in the same order, the same bits
      backwardReduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
      applyChannelsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, 0, channels, mean, invStd, gamma, sumDy,
          sumDyXhat, count);
      return;
    }
    if (PIPELINE && inner <= APPLY_BLOCK) { // planes of one apply block: see pipelined and PIPELINE
      pipelined(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
      return;
    }
    for (int c = 0; c < channels; c++) {
      for (int o = 0; o < outer; o++) reducePlane(x, xOffset, dy, dyOffset, o, channels, inner, c, mean, sumDy, sumDyXhat);
      sumDyXhat[c] *= invStd[c];
      applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, 0, outer, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat, count);
    }
  }

  /**
   * Channel c's reduce interleaved with channel c - 1's apply, plane by plane: the reduce streams x and dy from
   * memory while the apply reads the previous channel from L1/L2 and writes dx, so reads and writes overlap
   * instead of alternating phases. Plane (o, c) is reduced as in reducePlane (same accumulators, same order),
   * plane (outer - 1 - o, c - 1) applied as in applyPlanes (last reduced, first applied): the same bits.
   */
  static void pipelined(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer, int channels,
                        int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    for (int o = 0; o < outer; o++) reducePlane(x, xOffset, dy, dyOffset, o, channels, inner, 0, mean, sumDy, sumDyXhat);
    sumDyXhat[0] *= invStd[0];
    for (int c = 1; c < channels; c++) {
      int p = c - 1;
      float a = Coefficients.backwardA(invStd, gamma, p);
      float b = Coefficients.backwardB(a, invStd, sumDyXhat, count, p), k = Coefficients.backwardK(a, sumDy, count, p);
      for (int o = 0; o < outer; o++) {
        reduceApplyPlane(x, xOffset, dy, dyOffset, dx, dxOffset, channels, inner, o, c, outer - 1 - o, mean, invStd, gamma,
            sumDy, sumDyXhat, count, a, b, k);
      }
      sumDyXhat[c] *= invStd[c];
    }
    applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, 0, outer, channels, inner, channels - 1, mean, invStd, gamma, sumDy,
        sumDyXhat, count);
  }

  /** reducePlane of plane (o, c) and the apply of plane (q, c - 1) with coefficients a, b, k, in one loop. */
  private static void reduceApplyPlane(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int channels,
                                       int inner, int o, int c, int q, float[] mean, float[] invStd, float[] gamma,
                                       float[] sumDy, float[] sumDyXhat, double count, float a, float b, float k) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
    FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    FloatVector am = FloatVector.broadcast(SPECIES, mean[c - 1]);
    int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
    int off = (q * channels + c - 1) * inner;
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
    FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int i = 0;
    for (; i < upperBound; i += 2 * LANES) {
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i), dy1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, xs + i + LANES).sub(m), h1);
      int p = off + i;
      FloatVector.fromArray(SPECIES, dy, dyOffset + p)
          .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p).sub(am).fma(vb, vk)).intoArray(dx, dxOffset + p);
      FloatVector.fromArray(SPECIES, dy, dyOffset + p + LANES)
          .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p + LANES).sub(am).fma(vb, vk)).intoArray(dx, dxOffset + p + LANES);
    }
    if (i < vectorBound) { // at most one vector: upperBound steps by two
      FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
      int p = off + i;
      i += LANES;
      FloatVector.fromArray(SPECIES, dy, dyOffset + p)
          .fma(va, FloatVector.fromArray(SPECIES, x, xOffset + p).sub(am).fma(vb, vk)).intoArray(dx, dxOffset + p);
    }
    // The apply's ragged end in scalar code (the same FMAs, so the same bits), not applyPlanes' overlapping last vector:
    // that vector, loaded before the loop and live across it, was boxed here (96 B a plane on NCHW 3x5x1023).
    int p = off + vectorBound;
    ScalarBatchNormSupport.applyStrided(x, xOffset + p, dy, dyOffset + p, dx, dxOffset + p, 1, inner - vectorBound,
        mean, invStd, gamma, sumDy, sumDyXhat, count, c - 1);
    float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
    for (; i < inner; i++) { // scalar tail
      float g = dy[gs + i];
      sDy += g;
      sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
    }
    addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
  }

  /**
   * ParallelBatchNorm's channel on one thread in one call, instead of two kernel calls per plane (16 calls per
   * channel at N=8, each with its own coefficient derivation): the plane sums come from the plane loop of
   * {@link #backward} and are merged as the interface says, then the apply walks the channel last-reduced-first.
   */
  @Override
  public boolean backwardChannel(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                 int channels, int inner, int c, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                                 float[] sumDyXhat, double count) {
    if (inner < FUSED_MIN_INNER) return false; // ParallelBatchNorm fuses only these (backwardApply's other loop below them)
    double accDy = 0, accDyXhat = 0;
    long slab = (long) channels * inner;
    for (int o = 0; o < outer; o++) {
      int shift = (int) (o * slab); // plane (o, c) as plane (0, c) of the tensor shifted by o slabs: its sums are assigned, not added
      reducePlane(x, xOffset + shift, dy, dyOffset + shift, 0, channels, inner, c, mean, sumDy, sumDyXhat);
      accDy += sumDy[c];
      accDyXhat += sumDyXhat[c] * invStd[c]; // in float, as backwardReduce scales a plane's sum, then added in double
    }
    sumDy[c] = (float) accDy;
    sumDyXhat[c] = (float) accDyXhat;
    applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, 0, outer, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat, count);
    return true;
  }

  /** ParallelBatchNorm's channel ranges walk in memory order where the 1-thread backward does ({@link #memoryOrder}). */
  @Override
  public boolean backwardInMemoryOrder(int outer, int channels, int inner) {
    return inner >= FUSED_MIN_INNER && memoryOrder(outer, channels, inner);
  }

  /**
   * {@link #reduceChannelsFirst}'s loops on channels [cFrom, cTo): a group's plane sums added in float as that method adds
   * a chunk's (kept in sumDy, sumDyXhat meanwhile), each group's scaled sum added in double (see the interface). The
   * plane loop is written out again rather than shared through a per-plane call, for the reason noted above
   * reduceChannelsFirst (a call per short plane measured 1.16x), and must stay the same operations in the same order.
   */
  @Override
  public void backwardReduceChannels(float[] x, int xOffset, float[] dy, int dyOffset, int outer, int channels, int inner,
                                     int cFrom, int cTo, int group, float[] mean, float[] invStd, float[] sumDy,
                                     float[] sumDyXhat, double[] accDy, double[] accDyXhat) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    for (int o = 0; o < outer; o++) {
      int at = o % group;
      boolean first = at == 0, last = at == group - 1 || o == outer - 1, firstGroup = o < group;
      for (int c = cFrom; c < cTo; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        int xs = xOffset + (o * channels + c) * inner, gs = dyOffset + (o * channels + c) * inner;
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
        FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i < upperBound; i += 2 * LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i), dy1 = FloatVector.fromArray(SPECIES, dy, gs + i + LANES);
          g0 = g0.add(dy0);
          g1 = g1.add(dy1);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
          h1 = dy1.fma(FloatVector.fromArray(SPECIES, x, xs + i + LANES).sub(m), h1);
        }
        for (; i < vectorBound; i += LANES) {
          FloatVector dy0 = FloatVector.fromArray(SPECIES, dy, gs + i);
          g0 = g0.add(dy0);
          h0 = dy0.fma(FloatVector.fromArray(SPECIES, x, xs + i).sub(m), h0);
        }
        float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
        for (; i < inner; i++) { // scalar tail
          float g = dy[gs + i];
          sDy += g;
          sDyX = Math.fma(g, x[xs + i] - mean[c], sDyX);
        }
        if (!first) { // the group's earlier planes, as addPlaneSums adds them
          sDy = sumDy[c] + sDy;
          sDyX = sumDyXhat[c] + sDyX;
        }
        if (!last) {
          sumDy[c] = sDy;
          sumDyXhat[c] = sDyX;
        } else {
          float scaled = sDyX * invStd[c]; // in float, as backwardReduce scales a chunk's sum
          if (firstGroup) {
            accDy[c] = sDy;
            accDyXhat[c] = scaled;
          } else {
            accDy[c] += sDy;
            accDyXhat[c] += scaled;
          }
        }
      }
    }
    for (int c = cFrom; c < cTo; c++) {
      sumDy[c] = (float) accDy[c];
      sumDyXhat[c] = (float) accDyXhat[c];
    }
  }

  /** {@link #applyChannelsFirst} on channels [cFrom, cTo): the bits of every apply. */
  @Override
  public void backwardApplyChannels(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int outer,
                                    int channels, int inner, int cFrom, int cTo, float[] mean, float[] invStd, float[] gamma,
                                    float[] sumDy, float[] sumDyXhat, double count) {
    applyChannelsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, cFrom, cTo, mean, invStd, gamma, sumDy,
        sumDyXhat, count);
  }

  // ---------------------------------------------------------------- backward on native memory (PanamaNativeBackward)

  @Override
  public boolean backwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                                float[] sumDyXhat, double count) {
    return PanamaNativeBackward.backward(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma,
        sumDy, sumDyXhat, count);
  }

  @Override
  public boolean backwardReduceNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels,
                                      int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    return PanamaNativeBackward.reduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
  }

  @Override
  public boolean backwardReduceNativeChunk(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels,
                                           int inner, float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    return PanamaNativeBackward.reduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat, tensorFloats);
  }

  @Override
  public boolean backwardApplyNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                     long dxOffset, int outer, int channels, int inner, float[] mean, float[] invStd,
                                     float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    return PanamaNativeBackward.apply(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy,
        sumDyXhat, count);
  }
}
