package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Layer norm and RMS norm on the Vector API, vectorized along each row's contiguous features.
 *
 * <p>Per row: a reduction pass (two independent pairs of accumulators over {@code 2 * LANES} floats, then
 * one vector at a time, then a scalar tail), one lane sum per reduction, then an elementwise pass. A row
 * of a transformer (768..8192 floats, 3..32 KiB) stays in L1/L2 between the passes, so the second read
 * is nearly free. The forwards' statistics take one read (layer norm: sums shifted by the row's first
 * element, with a two-pass fallback when that shift would cancel digits; see {@link #statistics}), and
 * that read of a following row shares a loop with the writes of row r (see {@link #forward}). Species and
 * shuffles only in static finals; no vector is held in a static (a constant vector in a loop phi makes
 * C2 box it). Nothing allocates.
 */
final class PanamaLayerNormSupport implements LayerNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  PanamaLayerNormSupport() {
    if (SPECIES.vectorBitSize() < 128) {
      throw new UnsupportedOperationException("preferred float vector is " + SPECIES.vectorBitSize() + " bits; need >= 128");
    }
  }

  @Override
  public String name() {
    return "panama";
  }

  // A block is `runs` runs of `width` contiguous floats, `stride` floats apart: a layer-norm row is one
  // run; a channels-last group-norm group is `spatial` runs of its `cpg` channels, `channels` apart
  // (PanamaGroupNormSupport). One set of kernels serves both.

  /**
   * Σ(x - shift) and Σ(x - shift)² over a block in one read: two independent pairs of accumulators over
   * {@code 2 * LANES} floats of a run, then one vector at a time, then a scalar tail; one lane sum each
   * per block. Exactly the order of {@link #normalizeBlock}'s sums of the next block (which also sums a
   * call's first row), so the two-pass redo about the mean ({@link #statistics}) sums as the first pass did.
   * Returned as one long, Σd's float bits high and Σd²'s low: two results without an allocation.
   */
  static long blockSums(float[] a, int off, int runs, int stride, int width, float shift) {
    FloatVector vs = FloatVector.broadcast(SPECIES, shift);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    for (int p = 0, at = off; p < runs; p++, at += stride) {
      int i = 0;
      for (; i < bound2; i += 2 * LANES) {
        FloatVector e0 = FloatVector.fromArray(SPECIES, a, at + i).sub(vs), e1 = FloatVector.fromArray(SPECIES, a, at + i + LANES).sub(vs);
        d0 = d0.add(e0);
        d1 = d1.add(e1);
        q0 = e0.fma(e0, q0);
        q1 = e1.fma(e1, q1);
      }
      for (; i < vb; i += LANES) {
        FloatVector e = FloatVector.fromArray(SPECIES, a, at + i).sub(vs);
        d0 = d0.add(e);
        q0 = e.fma(e, q0);
      }
      for (; i < width; i++) { // scalar tail
        float e = a[at + i] - shift;
        sd += e;
        sq = Math.fma(e, e, sq);
      }
    }
    long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1)); // one call: see normalizeRowOnLines
    sd += Float.intBitsToFloat((int) (lanes >>> 32));
    sq += Float.intBitsToFloat((int) lanes);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /**
   * Mean and invStd from a block's sums about its first element ({@link #blockSums}' packing). When x0
   * is far out, (Σd)²/n exceeds 8 times n·var and the cancellation could cost digits, so that block is
   * summed again about its mean (two-pass). 1/n is multiplied, not divided: the divisions sat on the
   * per-row dependency chain (lane sums, then this, then the row's writes), which weighs on short rows.
   * The pipelined row forward sums its redo with its own loop (rowStatistics); {@link #blockStatistics} calls this one
   * (for the rows past its vectors and the rows that cancel), and so does group norm's channels-last forward for a call whose groups redo often (PanamaGroupNormSupport.statistics).
   */
  static long statistics(float[] x, int at, int runs, int stride, int width, float epsilon, long sums) {
    double invN = 1.0 / ((double) runs * width);
    float m = shiftedMean(x[at], sums, invN);
    if (cancels(sums, invN)) sums = blockSums(x, at, runs, stride, width, m); // about the mean: (Σd)² corrects m's rounding
    return meanInvStd(m, sums, invN, epsilon);
  }

  // statistics in three steps, shared with the native body (PanamaNativeLayerNorm), which only reads x differently.

  /** The block's mean from its sums about {@code x0}: {@code x0 + Σd / n}. */
  static float shiftedMean(float x0, long sums, double invN) {
    return (float) (x0 + Float.intBitsToFloat((int) (sums >>> 32)) * invN);
  }

  /** True when (Σd)²/n exceeds 8 times Σd² - (Σd)²/n: x0 is far out and the block is summed again about its mean. */
  static boolean cancels(long sums, double invN) {
    double sd = Float.intBitsToFloat((int) (sums >>> 32)), sq = Float.intBitsToFloat((int) sums);
    double shifted = sd * sd * invN;
    return shifted > 8 * (sq - shifted);
  }

  /** Packs {@code m} (high) with {@code 1/sqrt((Σd² - (Σd)²/n)/n + epsilon)} from {@code sums} (low). */
  static long meanInvStd(float m, long sums, double invN, float epsilon) {
    double sd = Float.intBitsToFloat((int) (sums >>> 32)), centered = Float.intBitsToFloat((int) sums) - sd * sd * invN;
    float s = (float) (1.0 / Math.sqrt(Math.max(0.0, centered * invN) + epsilon));
    return (long) Float.floatToRawIntBits(m) << 32 | Float.floatToRawIntBits(s) & 0xFFFF_FFFFL;
  }

  /**
   * Rows shorter than 512 floats, and calls in cache, take {@link #forwardRowsApart} ({@link #rowsApart} says why); the
   * rest {@link #forwardPipelined}, which this comment describes (and whose bits forwardRowsApart shares).
   *
   * <p>Per row: the statistics in one read, then one pass that writes y, software-pipelined: the pass that
   * writes row r also sums row r + 1 (the next row's reads stream in while this row's writes go out,
   * and its lane sums, square root and division overlap the next pass instead of stalling the writes).
   * In a probe at 2048x768, 1024x1000 and 512x4096 the fused loop took 0.82x, 0.94x and 0.93x the time
   * of statistics-then-write per row, within 5% of a plain copy at the short rows; computing row r + 1's
   * statistics in a loop of its own before writing row r measured no gain, and neither did summing row
   * r + 2 in the pass that writes row r (0.99x-1.00x at 768, 1000 and 4096 features, 1.05x at 256:
   * {@code rmsForward} keeps that form). Row r + 1 is only read while row r is written, so y may be x (in
   * place). The last row sums itself again, discarded: one loop for every row, and a read from L1. Two rows
   * a pass (rows r and r + 1 written and rows r + 2 and r + 3 summed in one loop, both rows' lane sums and
   * statistics back to back, gamma and beta read once; same bits, commit 1abc1d5) took 1.20-1.62x this
   * loop's time from memory at 256, 768 and 1000 features (LayerNormCopyProbe --base, paired in one JVM,
   * four JVMs, both role orders), though 0.77-0.89x on L1-resident rows at 256. The loss is writing two rows
   * in one loop: a diagnostic build that read both rows but stored one took 0.99-1.10x, one that read one row
   * but stored both 1.19-1.54x. Sharing gamma/beta or overlapping two rows' chains at the same feature index
   * means storing two rows in one loop; storing them one after the other is this loop twice.
   *
   * <p>Against oneDNN 2.6 at short rows (4096x256, 2048x768) the gap is partly where the bytes sit, partly
   * this loop. oneDNN's kernel (its JIT dump) streams nothing: plain 256-bit stores, three passes per row,
   * fully unrolled. Its buffers are page-aligned. Large float[]s (G1 humongous) start 16 bytes past a
   * 64-byte line in every JVM (read from their addresses: LayerNormCopyProbe), so every 512-bit access here
   * spans two lines; on a line (12 floats in) this forward took 0.94-0.96x the time, paired in one JVM, and
   * where gamma and beta sit made no difference. The kernel cannot see an array's address (batch norm's elementwise
   * passes guess it from G1's placement, {@code PanamaBatchNormSupport.head}; its rows' sums here fix the vector grid
   * per row, so a head would change their bits), so it does not peel to a line; doing the (elementwise, so
   * same-bits) writes in 256-bit vectors, half of them line-split instead of all, took 1.15x this loop's time at 4096x256 and 1.02x at 512x4096 (LayerNormCopyProbe --base,
   * one JVM, eleventh session). Since the twenty-second session rows of 1000 floats and more, in calls past 2 MiB at 16
   * lanes, read both rows through rebuilt line-aligned loads instead ({@link #normalizeRowOnLines}, same bits;
   * {@link #onLines(int, int)} has the numbers). The rest of the gap at 256 features is this loop's fixed cost per row (lane sums and
   * the double statistics on the row-to-row chain, ~20-30 ns a row on L1-resident rows), not memory
   * (README, "LayerNorm, RMSNorm and GroupNorm against PyTorch and oneDNN").
   *
   * <p>Blocks of rows that fit in L1 (sum rows r..r+k-1 with {@link #blockSums} and {@link #statistics}, then write
   * those k rows in a loop without sums; the same bits, NativeLayerNormTest green) lost on the AMD EPYC (AVX-512),
   * although the two halves as separate loops are 1.4x cheaper than this loop on L1-resident rows
   * (LayerNormRowProbe). LayerNormBenchmark.Vector.layerNormForward, forks of main and the blocked build
   * alternating, main's time = 1: 2048x768 1.01-1.15x at k = 4 (12 KiB, three rounds), 1.08-1.20x at k = 5 (six
   * rounds), 1.05-1.09x at k = 2; 1024x1000 0.93-1.00x at k = 3 and 0.92-1.01x at k = 4 (three and six rounds,
   * inside main's spread), 1.09x at k = 1 (two-pass). A likely reason (not measured): the block's sum loop reads
   * from L3 with no work to overlap, where this loop's writes of row r overlap row r + 1's reads. Touching block
   * j + 1 (one scalar load a cache line) in block j's writes took 1.10-1.22x at 768 and 1.06-1.13x at 1000; this loop
   * four vectors a step (the same two accumulator pairs in the same order) 1.01-1.03x at 768 and 1.17-1.29x at 1000
   * (engineer lnb13, thirteenth session).
   *
   * <p>Sixteenth session (engineer ln16): per row a sum loop with four accumulator pairs (two pairs were
   * add/FMA-latency-bound), the statistics, then a write-only loop, was merged and reverted. On L1-resident rows it is
   * cheaper than this loop (LayerNormRowProbe, 768 floats: 111-114 against 154-163 ns a row), but from memory the
   * lead's quiet JMH A/B of this loop (A) against it (B) (`jmh/bench ab A.jar B.jar --rounds 3
   * 'LayerNormBenchmark\.Vector\.layerNormForward$' -p shape=...`, B/A) read 0.818 at 1024x1000, 0.829 at 512x2048,
   * 0.880 at 4096x256, 1.009 at 2048x768, but 1.076 at 1024x1024, 1.086 and 1.151 at 512x4096 and 1.138 at 256x8192:
   * slower at the long transformer widths, with no rule by width or size that separates the two sets.
   */
  @Override
  public void forward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float[] beta,
                      float epsilon, float[] mean, float[] invStd, int statsOffset) {
    float[] g = ones(gamma, features), b = zeros(beta, features);
    try {
      if (rowsApart(rows, features)) forwardRowsApart(x, xOffset, y, yOffset, rows, features, g, b, epsilon, mean, invStd, statsOffset);
      else forwardPipelined(x, xOffset, y, yOffset, rows, features, g, b, epsilon, mean, invStd, statsOffset);
    } finally {
      release(beta, b);
      release(gamma, g);
    }
  }

  /** {@link #forward}'s pipelined loop (described there), gamma and beta not null. */
  static void forwardPipelined(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g, float[] b,
                               float epsilon, float[] mean, float[] invStd, int statsOffset) {
    float[] discard = Scratch.borrow(features);
    try {
      // Row 0 is summed by the row loop's own normalizeBlock (its writes go to scratch), not by blockSums. See rowStatistics.
      boolean lines = onLines(rows, features);
      long stats = rowStatistics(x, xOffset, features, epsilon, discard, g, b,
          rowPass(lines, x, xOffset, discard, 0, features, g, b, 0f, 1f, xOffset, x[xOffset]), lines);
      for (int r = 0; r < rows; r++) {
        int xo = xOffset + r * features, yo = yOffset + r * features;
        float m = Float.intBitsToFloat((int) (stats >>> 32)), s = Float.intBitsToFloat((int) stats);
        if (mean != null) mean[statsOffset + r] = m;
        if (invStd != null) invStd[statsOffset + r] = s;
        boolean more = r + 1 < rows;
        int next = more ? xo + features : xo;
        long sums = rowPass(lines, x, xo, y, yo, features, g, b, m, s, next, x[next]);
        if (more) stats = rowStatistics(x, next, features, epsilon, discard, g, b, sums, lines);
      }
    } finally {
      Scratch.release(discard);
    }
  }

  /**
   * Whether {@link #forward} takes {@link #forwardRowsApart}: rows of fewer than {@link #LINES_MIN_FEATURES} floats, or
   * calls of fewer than {@link #LINES_MIN_FLOATS} (in cache); the rest (wide rows from memory) the pipelined loop. So
   * the rows apart never read on lines ({@link #onLines(int, int)}).
   *
   * <p>Twenty-ninth session (AMD EPYC, Zen 4 class, AVX-512): {@code docs/probes/LnFwdAB.java}, the two forms
   * alternating in one JVM (same bits, checked), medians over 15 rounds of the per-round time ratio rows apart /
   * pipelined, three JVMs for the first list and two for the second: 4096x17 0.79-0.95, 16384x32 0.60, 8192x64
   * 0.58-0.66, 4096x256 0.65-0.74, 64x768 0.66-0.80 (in cache); 8192x256 0.81-0.90, 4096x384 0.96-0.97, 32x768 0.87-0.91,
   * 256x1024 0.94-0.98, 128x2048 0.82-0.88, 64x4096 0.91-0.97 (the last four in cache). On short rows and in cache
   * the pipelined loop puts each row's lane sums, square root and division on the chain from one row's writes to the
   * next's (the next row's sums run in the same loop as this row's writes, and the out-of-order window fills with
   * writes waiting for them); apart, the next row's sums depend on nothing. Wide rows from memory are a toss-up, so
   * they keep the pipelined loop, whose overlap of the next row's reads with this row's writes won on earlier
   * machines (see {@link #forward}): in that run 2048x768 0.75-0.84, 1024x1000 0.81-0.85, 1024x1536 0.88-0.93,
   * 512x2048 0.89, 768x3072 0.92-0.97, 2048x512 0.94-1.00, but in the session's first run of the same comparison
   * (the probe then timed rows apart through {@code forward}, three JVMs) 1.04-1.25, 1.00-1.04, 1.12-1.15, 1.04-1.12,
   * 1.15-1.20 and 0.95-1.03.
   */
  static boolean rowsApart(int rows, int features) {
    return features < LINES_MIN_FEATURES || (long) rows * features < LINES_MIN_FLOATS;
  }

  /**
   * Per row, the sums in a read of their own ({@link #blockSums}), the statistics, then a pass that writes y from the
   * row in L1 ({@link #writeRows}), rows a block at a time ({@link #rowsApartBlock}). The same sums in the same order as {@link #normalizeBlock}'s (which the pipelined
   * form and the native body take), the same statistics and the same formula per element: the same bits. A row is
   * read whole before it is written, so y may be x.
   */
  static void forwardRowsApart(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g, float[] b,
                               float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int block = rowsApartBlock(features);
    double[] t = Scratch.borrowDoubles(5 * block); // per row of the block: Σd, Σd², first element, mean, invStd
    float[] u = Scratch.borrow(2 * block); // mean, invStd as floats
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0), x0 = xOffset + r0 * features;
        rowSums(x, x0, n, features, t, block); // each row about its first element
        blockStatistics(x, x0, n, features, epsilon, t, u, block);
        if (mean != null) System.arraycopy(u, 0, mean, statsOffset + r0, n);
        if (invStd != null) System.arraycopy(u, block, invStd, statsOffset + r0, n);
        writeRows(x, x0, y, yOffset + r0 * features, n, features, g, b, u, block);
      }
    } finally {
      Scratch.release(u);
      Scratch.releaseDoubles(t);
    }
  }

  /** Double vectors of the preferred shape: the statistics of a block of rows (no shape conversions; see blockStatistics). */
  private static final VectorSpecies<Double> DOUBLES = DoubleVector.SPECIES_PREFERRED;

  /**
   * Mean and invStd of {@code rows} rows from their sums about their first elements ({@link #rowSums}' layout in
   * {@code t}, as doubles: Σd at {@code [0, block)}, Σd² at {@code [block, 2 block)}, the first elements at
   * {@code [2 block, 3 block)}) into {@code u} as floats ({@code [0, block)} and {@code [block, 2 block)}):
   * {@link #statistics} row by row, a vector of rows a step in double vectors, the rows whose sums cancel
   * ({@link #cancels}) then summed again about their means and their invStd redone. The same operations per row (IEEE
   * square root and division round exactly), so the same bits. The sums come as doubles (exact) so that no shape
   * conversion is needed (VectorProfileHazardTest keeps them out); C2 did not vectorize the same as plain loops over
   * float arrays. One row's statistics were a dependent chain of double conversions, square root and division each
   * row: 6-10 ns a row of the rows-apart forward's 17-30 at 17 to 32 features, 2.0-2.6 ns this way (LnBlockParts;
   * 1.1-1.7 with the shape conversions VectorProfileHazardTest rejects).
   */
  static void blockStatistics(float[] x, int x0, int rows, int features, float epsilon, double[] t, float[] u, int block) {
    double invN = 1.0 / features;
    int dl = DOUBLES.length(), i = 0, ms = 3 * block, ss = 4 * block;
    DoubleVector vInvN = DoubleVector.broadcast(DOUBLES, invN), eight = DoubleVector.broadcast(DOUBLES, 8.0);
    DoubleVector zero = DoubleVector.zero(DOUBLES), eps = DoubleVector.broadcast(DOUBLES, (double) epsilon), one = DoubleVector.broadcast(DOUBLES, 1.0);
    for (; i <= rows - dl; i += dl) {
      DoubleVector sd = DoubleVector.fromArray(DOUBLES, t, i), sq = DoubleVector.fromArray(DOUBLES, t, block + i);
      DoubleVector.fromArray(DOUBLES, t, 2 * block + i).add(sd.mul(vInvN)).intoArray(t, ms + i); // shiftedMean, before the float cast
      DoubleVector shifted = sd.mul(sd).mul(vInvN), centered = sq.sub(shifted);
      one.div(centered.mul(vInvN).max(zero).add(eps).sqrt()).intoArray(t, ss + i); // meanInvStd
      if (shifted.compare(VectorOperators.GT, centered.mul(eight)).anyTrue()) { // cancels: those rows' invStd again, scalar
        for (int j = i; j < i + dl; j++) t[ss + j] = Float.intBitsToFloat((int) blockRowStatistics(x, x0 + j * features, features, epsilon, t, block, j));
      }
    }
    for (; i < rows; i++) {
      long stats = blockRowStatistics(x, x0 + i * features, features, epsilon, t, block, i);
      t[ms + i] = Float.intBitsToFloat((int) (stats >>> 32));
      t[ss + i] = Float.intBitsToFloat((int) stats);
    }
    for (int r = 0; r < rows; r++) {
      u[r] = (float) t[ms + r];
      u[block + r] = (float) t[ss + r];
    }
  }

  /** Row {@code i} of {@link #blockStatistics} by {@link #statistics} from its sums in {@code t} (packed mean, invStd). */
  private static long blockRowStatistics(float[] x, int at, int features, float epsilon, double[] t, int block, int i) {
    return statistics(x, at, 1, features, features, epsilon, PanamaBatchNormSupport.pack((float) t[i], (float) t[block + i]));
  }

  /**
   * {@link #blockSums} of each of {@code rows} rows of {@code width} floats from {@code off}, each about its first
   * element, into {@code t} as doubles (Σd at {@code i}, Σd² at {@code block + i}, the first element at
   * {@code 2 block + i}; see {@link #blockStatistics}): the same operations in the same order, the rows' loop inside.
   * blockSums called once a row is a real call (C2 does not inline a callee whose compiled code is past InlineSmallCode,
   * and blockSums' loops are), with a frame, the rotation tables loaded and the result packed through general
   * registers each row; here those are hoisted out of the rows' loop. With {@link #writeRows}, against the per-row
   * calls (a copy against 4b1a29f's forwardRowsApart, one JVM alternating, {@code docs/probes/LnNarrow.java}; Zen 4,
   * AVX-512; median per-round ratios): 4096x17 0.78-0.82, 16384x32 0.73, 8192x64 0.80-0.82, 64x17 0.80.
   */
  static void rowSums(float[] a, int off, int rows, int width, double[] t, int block) {
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (int r = 0, at = off; r < rows; r++, at += width) {
      float shift = a[at];
      FloatVector vs = FloatVector.broadcast(SPECIES, shift);
      FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
      int i = 0;
      for (; i < bound2; i += 2 * LANES) {
        FloatVector e0 = FloatVector.fromArray(SPECIES, a, at + i).sub(vs), e1 = FloatVector.fromArray(SPECIES, a, at + i + LANES).sub(vs);
        d0 = d0.add(e0);
        d1 = d1.add(e1);
        q0 = e0.fma(e0, q0);
        q1 = e1.fma(e1, q1);
      }
      for (; i < vb; i += LANES) {
        FloatVector e = FloatVector.fromArray(SPECIES, a, at + i).sub(vs);
        d0 = d0.add(e);
        q0 = e.fma(e, q0);
      }
      float sd = 0, sq = 0;
      for (; i < width; i++) { // scalar tail
        float e = a[at + i] - shift;
        sd += e;
        sq = Math.fma(e, e, sq);
      }
      long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1));
      t[r] = sd + Float.intBitsToFloat((int) (lanes >>> 32));
      t[block + r] = sq + Float.intBitsToFloat((int) lanes);
      t[2 * block + r] = shift;
    }
  }

  /**
   * Whether a row of {@code width} floats takes its tail (past its last whole vector) as one vector ending at the row's
   * end in the elementwise passes ({@link #writeRows}). Writing only tails of 4 floats and more that way measured no
   * different at 17 and 18 features (LnLoadersAB, one JVM, two builds alternating, against 4b1a29f's code in the same
   * JVM: 0.97-1.02x either way on RMS norm at 17), so every tail does.
   */
  static boolean vectorTail(int width) {
    return width > LANES && width % LANES != 0;
  }

  /**
   * y = (x - m) * s * gamma + beta over {@code rows} rows of {@code width} floats, each row's m and s at {@code stats[i]}
   * and {@code stats[block + i]} ({@link #blockStatistics}' output): {@link #normalizeBlock}'s formula per element. Rows of at least a vector write their last
   * {@code width % LANES} floats with one vector ending at the row's end, loaded with the row's first vector, before
   * any of the row is stored: the overlapped floats get the same values again, and y may be x (each of a row's loads
   * precedes its stores). A scalar tail of up to LANES - 1 floats a row cost about as much as the rest of the row's
   * writes at 24 and 31 features.
   */
  static void writeRows(float[] x, int xa, float[] y, int ya, int rows, int width, float[] gamma, float[] beta, float[] stats,
                        int block) {
    int vb = SPECIES.loopBound(width), last = width - LANES;
    boolean overlap = vectorTail(width);
    for (int r = 0; r < rows; r++, xa += width, ya += width) {
      float m = stats[r], s = stats[block + r];
      FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
      if (overlap) {
        FloatVector u = FloatVector.fromArray(SPECIES, x, xa + last).sub(vm).mul(vs)
            .fma(FloatVector.fromArray(SPECIES, gamma, last), FloatVector.fromArray(SPECIES, beta, last));
        for (int f = 0; f < vb; f += LANES) {
          FloatVector v = FloatVector.fromArray(SPECIES, x, xa + f).sub(vm).mul(vs);
          v.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoArray(y, ya + f);
        }
        u.intoArray(y, ya + last);
        continue;
      }
      int f = 0;
      for (; f < vb; f += LANES) {
        FloatVector v = FloatVector.fromArray(SPECIES, x, xa + f).sub(vm).mul(vs);
        v.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoArray(y, ya + f);
      }
      for (; f < width; f++) y[ya + f] = Math.fma((x[xa + f] - m) * s, gamma[f], beta[f]);
    }
  }

  /**
   * Rows a block of the rows-apart forwards ({@link #forwardRowsApart}, {@link #rmsForwardRowsApart}): every row's sums,
   * then every row's statistics, then every row's writes, so that no row's lane sums, square root and division sit
   * between its own reads and writes; rows of a block are independent, and the core overlaps their chains. Blocks of
   * up to 32 rows and 2048 floats (8 KiB, so the writes read the block from L1) against row by row, one JVM,
   * alternating ({@code docs/probes/LnBlockAB.java}, two JVMs, median per-round ratios; AVX-512 EPYC, Zen 4): 4096x17
   * 0.82, 16384x32 0.88-0.90, 8192x64 0.90-0.94, but 4096x256 1.04-1.05, 64x768 1.03-1.12, 256x511 1.01-1.06: rows of
   * 8 vectors and more stay row by row.
   */
  static int rowsApartBlock(int features) {
    return features >= 8 * LANES ? 1 : Math.max(1, Math.min(32, 2048 / features));
  }

  /**
   * Whether {@link #forward} reads its rows through {@link #normalizeRowOnLines}: 16 lanes or more (at 8 lanes, with
   * {@code -XX:UseAVX=2} on the same CPU, the two-vector permute made it 1.2-1.7x slower), rows of at least
   * {@link #LINES_MIN_FEATURES} and calls of at least {@link #LINES_MIN_FLOATS}.
   *
   * <p>Why: a large {@code float[]} starts 16 bytes past a line (PanamaBatchNormSupport.head), so at 16 lanes every
   * load of a row spans two lines. The same forward on the same data with x 12 floats further on (on a line) took
   * 0.72-0.79x the time at 768 features (2048 and 8192 rows), 0.88-0.94x at 1000, x alone on a line the same, y alone
   * 1.03-1.10x (LnAlign probe, one JVM, 21 alternating rounds). Switched on and off in one JVM (AVX-512 EPYC, Zen 5
   * class; 21-31 alternating rounds; bits equal; on / off medians, training and inference forward): 1024x1000
   * 0.85-0.95, 512x4096 0.90-1.01, 2048x4096 0.91-0.92, 4096x1024 0.76, 1024x2048 0.77-0.81, 8192x768 0.75-0.92,
   * 3000x768 0.75-0.95; but 2048x768 swung 0.85-1.15 between JVMs, 4096x256 and 2048x512 read 1.01-1.10, and rows in L2
   * (512x768, 64x768) 1.05-1.20, 17 features 1.55. Hence rows of 1000 floats and up, past 2 MiB, until the
   * twenty-fourth session found part of those swings in the JIT: with the lines on, {@link #normalizeBlock} ran only
   * for the rows at the array's ends and stayed in C1 (now {@link #rowPass} keeps every row in one method). With that,
   * separate JVMs, three alternating pairs each (jmh LayerNormSweep, 140 calls, medians; new / old µs ratio): layer norm
   * 4096x768 0.68-0.93, 8192x768 0.74-0.82, 3000x768 0.72-0.84, 2800x768 0.61-1.03, 4096x992 0.70-0.81; RMS norm
   * 4096x768 0.63-0.81, 8192x768 0.63-0.69, 3000x768 0.60-0.65, 4096x992 0.62-0.71; narrower rows past 2 MiB did not
   * gain (8192x512 0.57-1.28, 6000x640 0.57-1.10, 16384x384 0.72-1.24, 16384x256 0.71-1.40, 3000x320 1.05-1.09 at a
   * lower size gate) in three pairs of JVMs. Seven more pairs (the gate at 384 against 768, both orders) put them
   * at medians of 0.79 (6000x640), 0.80 (4096x640), 0.85 (8192x512), 0.89 (12000x512), 0.86 (16384x384, 0.67-1.38)
   * and about 1.0 at 256 (0.80-1.17); RMS norm in four pairs 0.64-0.86 at 512 and 640. Hence rows of 512 floats and up.
   */
  static boolean onLines(int rows, int features) {
    return LANES >= 16 && features >= LINES_MIN_FEATURES && (long) rows * features >= LINES_MIN_FLOATS;
  }

  /** Features a row needs for {@link #normalizeRowOnLines} (see {@link #onLines(int, int)}). */
  static final int LINES_MIN_FEATURES = 512;

  /** Floats a call needs for {@link #normalizeRowOnLines} (2 MiB, see {@link #onLines(int, int)}). */
  static final int LINES_MIN_FLOATS = 512 * 1024;

  /**
   * One row of a forward call: {@link #normalizeBlock} when the call does not read its rows on lines ({@code lines} false,
   * {@link #onLines(int, int)}), else {@link #normalizeRowOnLines} for every row, the rows whose line-aligned loads would
   * leave {@code x} (a row at the array's start, the last row or two at its end) included: those two rows are
   * copied into pooled scratch with a vector of slack on either side and read from there (the same values in the
   * same lanes, so the same bits). Why not {@link #normalizeBlock} for them: a vector method that runs for two or
   * three rows a call, as the redo about the mean does, stays in C1 for hundreds of calls, where the Vector API runs
   * as objects; at 768 features with the lines switched on that cold path made whole calls 3-4x slower (probe
   * {@code LayerNormSweep} in the jmh module, fresh JVMs, 140 calls; twenty-fourth session).
   */
  static long rowPass(boolean lines, float[] x, int xa, float[] y, int ya, int width, float[] gamma, float[] beta, float m, float s,
                      int na, float x0) {
    if (!lines) return normalizeBlock(x, xa, y, ya, 1, width, width, gamma, beta, 0, m, s, na, x0);
    if (onLines(x.length, xa, na, width)) return normalizeRowOnLines(x, xa, y, ya, width, gamma, beta, m, s, na, x0);
    float[] c = copyRows(x, xa, na, width);
    try {
      return normalizeRowOnLines(c, LANES, y, ya, width, gamma, beta, m, s, copiedNext(xa, na, width), x0);
    } finally {
      Scratch.release(c);
    }
  }

  /**
   * Rows {@code xa} and {@code na} of {@code x} ({@code width} floats each; one copy when they are the same row) in pooled
   * scratch, the first at {@link #LANES}, the other at {@link #copiedNext}, with a vector of slack around both, so that
   * the rebuilt line-aligned loads stay inside it. Give it back with {@link Scratch#release}.
   */
  static float[] copyRows(float[] x, int xa, int na, int width) {
    float[] c = Scratch.borrow(2 * width + 4 * LANES);
    System.arraycopy(x, xa, c, LANES, width);
    if (xa != na) System.arraycopy(x, na, c, copiedNext(xa, na, width), width);
    return c;
  }

  /** Where {@link #copyRows} put row {@code na}. */
  static int copiedNext(int xa, int na, int width) {
    return xa == na ? LANES : width + 2 * LANES;
  }

  /** True when {@link #normalizeRowOnLines}' line-aligned loads of both rows stay inside an array of {@code length}. */
  static boolean onLines(int length, int xa, int na, int width) {
    int vb = SPECIES.loopBound(width);
    int ax = xa + PanamaBatchNormSupport.lineHead(xa), an = na + PanamaBatchNormSupport.lineHead(na);
    return Math.min(ax, an) >= LANES && Math.max(ax, an) + vb <= length;
  }

  /**
   * {@link #normalizeBlock} of one row (one run, gamma and beta from 0), with both rows' vectors (the row written and
   * the row summed) rebuilt from line-aligned loads: each stream keeps its previous aligned vector, and the vector at
   * {@code f} is a two-vector {@code selectFrom} of it and the next one, as the batch-norm statistics do
   * (PanamaBatchNormSupport accumulate4Aligned). The same lanes, so the same operations on the same values: the same
   * bits as {@link #normalizeBlock} and the native body. Each vector step loads x before it stores y, and the loads of
   * the written row run ahead of its stores, so y may be x.
   *
   * <p>Both lane sums in one {@code sumLanes} call (here, in {@link #normalizeBlock} and in {@link #blockSums}): as two
   * calls, once a width that takes the one-vector step (1008 features at 16 lanes) had recompiled this method, C2's
   * inlining node budget ran out before the second and its vector was boxed, 96 B a row from then on for every width
   * (393 KB a call at 4096x1000, and 1000x4100 took 2206 against 1319 us; LayerNormSweep in the jmh module, five widths in one JVM; the same
   * trap the backward and the native rows document).
   */
  static long normalizeRowOnLines(float[] x, int xa, float[] y, int ya, int width, float[] gamma, float[] beta, float m, float s,
                                  int na, float x0) {
    int hx = PanamaBatchNormSupport.lineHead(xa), hn = PanamaBatchNormSupport.lineHead(na), ax = xa + hx, an = na + hn;
    FloatVector ix = PanamaBatchNormSupport.lineIndex(hx), in = PanamaBatchNormSupport.lineIndex(hn);
    FloatVector px = FloatVector.fromArray(SPECIES, x, ax - LANES), pn = FloatVector.fromArray(SPECIES, x, an - LANES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vx0 = FloatVector.broadcast(SPECIES, x0);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    int f = 0;
    for (; f < bound2; f += 2 * LANES) {
      FloatVector n0 = FloatVector.fromArray(SPECIES, x, an + f), n1 = FloatVector.fromArray(SPECIES, x, an + f + LANES);
      FloatVector e0 = in.selectFrom(pn, n0).sub(vx0), e1 = in.selectFrom(n0, n1).sub(vx0);
      pn = n1;
      d0 = d0.add(e0);
      d1 = d1.add(e1);
      q0 = e0.fma(e0, q0);
      q1 = e1.fma(e1, q1);
      FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + f), c1 = FloatVector.fromArray(SPECIES, x, ax + f + LANES);
      FloatVector t0 = ix.selectFrom(px, c0).sub(vm).mul(vs), t1 = ix.selectFrom(c0, c1).sub(vm).mul(vs);
      px = c1;
      t0.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoArray(y, ya + f);
      t1.fma(FloatVector.fromArray(SPECIES, gamma, f + LANES), FloatVector.fromArray(SPECIES, beta, f + LANES)).intoArray(y, ya + f + LANES);
    }
    for (; f < vb; f += LANES) {
      FloatVector n0 = FloatVector.fromArray(SPECIES, x, an + f);
      FloatVector e = in.selectFrom(pn, n0).sub(vx0);
      pn = n0;
      d0 = d0.add(e);
      q0 = e.fma(e, q0);
      FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + f);
      FloatVector t = ix.selectFrom(px, c0).sub(vm).mul(vs);
      px = c0;
      t.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoArray(y, ya + f);
    }
    for (; f < width; f++) { // scalar tail
      float e = x[na + f] - x0;
      sd += e;
      sq = Math.fma(e, e, sq);
      y[ya + f] = Math.fma((x[xa + f] - m) * s, gamma[f], beta[f]);
    }
    long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1)); // one call: see normalizeRowOnLines
    sd += Float.intBitsToFloat((int) (lanes >>> 32));
    sq += Float.intBitsToFloat((int) lanes);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /**
   * {@link #statistics} of the row at {@code at} (one run), its two-pass redo about the mean also summed by
   * {@link #normalizeBlock} (output to {@code discard}, {@code features} floats of scratch) rather than by
   * {@link #blockSums}: the same sums in the same order, but in the method every row runs. A vector method
   * called a few times a call (the redo: rows whose first element is ~3 standard deviations out, ~0.5% of
   * Gaussian rows) or once (row 0) reaches C2 only after hundreds of calls, and is deoptimized back to C1
   * when a new width first takes a loop its profile never saw; C1 runs Vector API code as objects. In
   * LayerNormCopyProbe (1024x1000, fresh JVM) the blocks in that state allocated 73-103 KB a call and took
   * 1.35-1.65x the copy against 1.04-1.33x once blockSums was compiled.
   */
  private static long rowStatistics(float[] x, int at, int width, float epsilon, float[] discard, float[] g, float[] b, long sums,
                                    boolean lines) {
    double invN = 1.0 / width;
    float m = shiftedMean(x[at], sums, invN);
    if (cancels(sums, invN)) sums = rowPass(lines, x, at, discard, 0, width, g, b, 0f, 1f, at, m);
    return meanInvStd(m, sums, invN, epsilon);
  }

  // A null gamma or beta is read as pooled ones or zeros: one loop form (a second, with the affine step's
  // branches, pushed normalizeBlock past C2's inlining node budget and a lane sum's vector was boxed).

  /** {@code gamma}, or pooled scratch holding {@code n} ones when it is null (give it back with {@link #release}). */
  static float[] ones(float[] gamma, int n) {
    if (gamma != null) return gamma;
    float[] a = Scratch.borrow(n);
    Arrays.fill(a, 0, n, 1f);
    return a;
  }

  /** {@code beta}, or pooled scratch holding {@code n} zeros when it is null (give it back with {@link #release}). */
  static float[] zeros(float[] beta, int n) {
    if (beta != null) return beta;
    float[] a = Scratch.borrow(n);
    Arrays.fill(a, 0, n, 0f);
    return a;
  }

  /** Returns {@code used} to the pool when it stood in for a null {@code given}. */
  static void release(float[] given, float[] used) {
    if (given == null) Scratch.release(used);
  }

  /**
   * y = (x - m) * s * gamma + beta over a block (gamma and beta from {@code po} on, along a run), and in
   * the same loop the {@link #blockSums} of the same-shaped block at {@code next} about {@code x0} (that
   * block's first element, or its mean for the two-pass redo; same packing). Two vectors a step with independent accumulators, then one vector, then a
   * scalar tail; one lane sum each per block.
   */
  static long normalizeBlock(float[] x, int xo, float[] y, int yo, int runs, int stride, int width, float[] gamma, float[] beta,
                             int po, float m, float s, int next, float x0) {
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vx0 = FloatVector.broadcast(SPECIES, x0);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    for (int p = 0, pd = 0; p < runs; p++, pd += stride) {
      int xa = xo + pd, ya = yo + pd, na = next + pd, f = 0;
      // x - mean first: exact for data far from 0 (Sterbenz), where folding mean into the shift is not.
      for (; f < bound2; f += 2 * LANES) {
        FloatVector e0 = FloatVector.fromArray(SPECIES, x, na + f).sub(vx0), e1 = FloatVector.fromArray(SPECIES, x, na + f + LANES).sub(vx0);
        d0 = d0.add(e0);
        d1 = d1.add(e1);
        q0 = e0.fma(e0, q0);
        q1 = e1.fma(e1, q1);
        FloatVector t0 = FloatVector.fromArray(SPECIES, x, xa + f).sub(vm).mul(vs);
        t0.fma(FloatVector.fromArray(SPECIES, gamma, po + f), FloatVector.fromArray(SPECIES, beta, po + f)).intoArray(y, ya + f);
        FloatVector t1 = FloatVector.fromArray(SPECIES, x, xa + f + LANES).sub(vm).mul(vs);
        t1.fma(FloatVector.fromArray(SPECIES, gamma, po + f + LANES), FloatVector.fromArray(SPECIES, beta, po + f + LANES))
            .intoArray(y, ya + f + LANES);
      }
      for (; f < vb; f += LANES) {
        FloatVector e = FloatVector.fromArray(SPECIES, x, na + f).sub(vx0);
        d0 = d0.add(e);
        q0 = e.fma(e, q0);
        FloatVector t = FloatVector.fromArray(SPECIES, x, xa + f).sub(vm).mul(vs);
        t.fma(FloatVector.fromArray(SPECIES, gamma, po + f), FloatVector.fromArray(SPECIES, beta, po + f)).intoArray(y, ya + f);
      }
      for (; f < width; f++) { // scalar tail
        float e = x[na + f] - x0;
        sd += e;
        sq = Math.fma(e, e, sq);
        y[ya + f] = Math.fma((x[xa + f] - m) * s, gamma[po + f], beta[po + f]);
      }
    }
    long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1)); // one call: see normalizeRowOnLines
    sd += Float.intBitsToFloat((int) (lanes >>> 32));
    sq += Float.intBitsToFloat((int) lanes);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /**
   * Per row: one read of dy and x for Σg and Σg·(x - mean) (g = dy * gamma), adding dy * xhat into dGamma and
   * dy into dBeta in the same read; then dx from the row again (L1). dGamma/dBeta cost a load and a store each
   * per vector of dy: with them null this loop took 0.67-0.77x the time at 2048x768 and 0.76x at 64x768
   * (L2-resident), and where the caller's dGamma/dBeta sit relative to x mod 4 KiB moved it from ~700 to
   * ~1070 µs at 2048x768 in one JVM (x, dy and dx fixed; placements timed one after another, so drift is not
   * ruled out). Four rewrites with the same bits (dGamma/dBeta added
   * per feature in row order, so block boundaries do not matter) lost against this loop, paired in one JVM on
   * the same arrays (LayerNormBackwardProbe's method, fifteenth session, engineer ln15; B/A medians): blocks of 8 rows
   * with the sums, then dGamma/dBeta in registers down strips of two vectors, then dx, 1.14x at 2048x768, 1.38x at
   * 1024x1000, 1.14-1.21x at 512x4096; rows in pairs (dGamma/dBeta loaded and stored once for two rows in the sums'
   * read, one accumulator-swapping loop so C2 does not box a lane sum) 1.18-1.25x at 2048x768 in three JVMs,
   * 0.96-1.04x at 1024x1000, 0.86-0.88x at 512x4096; four rows' dGamma/dBeta in one pass from cache between their
   * sums and their dx 1.07-1.46x (and it boxed at 33 rows, 47 KB a call); the gradients added in the dx pass
   * (x and dy from L1 there) instead of the sums' read 1.03-1.15x. Copying gamma, dGamma and dBeta into one pooled
   * array at 1536-byte spacings mod 4 KiB (so their relative placement is fixed; from 128 rows on, copied back
   * after) read 0.69-0.95x at 2048x768 in one JVM and 1.10-1.35x in the next, 1.21-1.24x at 1024x1000: the pooled
   * array's own place against x, dy and dx is a new lottery, not a cure. Nineteenth session (AVX-512 EPYC, Zen 5
   * class): the forward's software pipelining, row r's dx written in the loop that reads row r + 1 for its sums and
   * dGamma/dBeta (the same sums in the same order: bits equal to this loop's, checked in the probe), took 1.11x this
   * loop's time at 512x4096, 1.11x at 2048x768 and 1.28x at 1024x1000 (median of 31 paired rounds in one JVM, a
   * probe calling this method against the pipelined copy): unlike the forward, whose pipelined pass only reads the
   * next row, here that pass also loads and stores dGamma and dBeta beside row r's dx stores.
   */
  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                       float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    if (backwardInBlocks(features)) {
      backwardBlocks(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, statsOffset, dGamma, dBeta);
      return;
    }
    backwardRows(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, statsOffset, dGamma, dBeta);
  }

  /**
   * {@link #backward}'s row loop (rows of 8 vectors and more, and narrower rows with a tail under 4 floats): per row
   * the reduction, dGamma and dBeta in the same read, then dx.
   *
   * <p>The reduction's loop has one body and swaps its two accumulator pairs every vector, as the native body does
   * ({@link PanamaNativeLayerNorm}): the same additions into the same chains in the same order as a loop unrolled by two
   * with a one-vector step after it (so the same bits), parsed once instead of three times. Why (thirty-second
   * session): the unrolled form parsed this method past C2's inlining node budget (NodeCountInliningCutoff) before
   * the lane sum in some compilations, which then boxed a vector a row (KernelMixAllocationTest red on every LN_BACK
   * case, 96 B a row, in one clean-clone CI run of four in the thirty-first session; its {@code sumLanes} call not
   * inlined, NodeCountInliningCutoff in the log, in an OSR compilation of one probe run of sixteen). Speed, {@code
   * docs/probes/LnLoadersAB.java}, this form / the unrolled one, two JVMs in each order (median per-round ratios, Zen 4
   * EPYC, 16 lanes): with wide rows run first in the JVM (2048x768, 1024x1000, 64x768; their profile compiled the
   * unrolled form first, which was not examined further) 4096x16 0.48-0.65x, 4096x17 0.62-0.78x, 16x17 0.64-0.71x,
   * 16384x32 0.76-0.83x, 8192x64 0.79-0.84x; with narrow rows first 4096x16 1.02-1.03x, 4096x17 0.81-1.04x, 16x17
   * 1.00-1.04x, 16384x32 1.10-1.15x, 8192x64 0.86-0.89x; wide rows 0.89-1.09x either way. Splitting the reduction into a method of its own (arrays and scalars in, no vector crossing a call)
   * was the other cure tried: 1.1-1.6x the unrolled form's time on narrow rows in the same probe.
   */
  static void backwardRows(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                           float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
      float m = mean[statsOffset + r], s = invStd[statsOffset + r];
      FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
      // Reduction: Σg and Σg·(x-mean), g = dy*gamma; dGamma/dBeta accumulate in the same read of dy and x.
      // (ga, pa) takes the next vector, then the pairs swap: (ga, pa) is always g0/p0 before an even vector and
      // g1/p1 before an odd one, two independent chains as in a loop unrolled by two (see the javadoc for why).
      FloatVector ga = FloatVector.zero(SPECIES), gb = ga, pa = ga, pb = ga;
      int f = 0;
      for (; f < vb; f += LANES) {
        FloatVector t = FloatVector.fromArray(SPECIES, dy, go + f), d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
        accumulateGradients(dGamma, dBeta, f, t, d, vs);
        if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
        FloatVector g = ga.add(t), p = t.fma(d, pa);
        ga = gb;
        pa = pb;
        gb = g;
        pb = p;
      }
      boolean odd = (vb / LANES & 1) != 0; // after an odd count the even vectors' sums (g0, p0) are in (gb, pb)
      FloatVector g0 = odd ? gb : ga, g1 = odd ? ga : gb, p0 = odd ? pb : pa, p1 = odd ? pa : pb;
      // Both lane sums in one call: as two calls, C2's inlining node budget ran out before the second when
      // the one-vector step of the unrolled form was compiled (4095 features at 16 lanes), boxing its vector.
      long lanes = PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
      float sumG = Float.intBitsToFloat((int) (lanes >>> 32)), sumGd = Float.intBitsToFloat((int) lanes);
      for (; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        if (dGamma != null) dGamma[f] += t * (d * s);
        if (dBeta != null) dBeta[f] += t;
        float g = gamma == null ? t : t * gamma[f];
        sumG += g;
        sumGd = Math.fma(g, d, sumGd);
      }
      // dx = g*a + d*b + k with a = s, b = -s^3 Σg·d / n, k = -s Σg / n (folded in double per row).
      float b = (float) (-(double) s * s * s * sumGd / features), k = (float) (-(double) s * sumG / features);
      FloatVector vbv = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
      for (f = 0; f < vb; f += LANES) {
        FloatVector g = FloatVector.fromArray(SPECIES, dy, go + f);
        if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
        FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
        d.fma(vbv, g.fma(vs, vk)).intoArray(dx, dxo + f);
      }
      for (; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        dx[dxo + f] = Math.fma(d, b, Math.fma(g, s, k));
      }
    }
  }

  /**
   * Whether {@link #backward} takes {@link #backwardBlocks}: rows of fewer than 8 vectors ({@link #rowsApartBlock}) with
   * a tail of at least 4 floats past their last whole vector, which the blocks write and accumulate as one vector; other
   * rows take the row loop ({@link #backwardRows}). Blocks / the row loop's unrolled form (before 4065373) in steady state, {@code
   * docs/probes/LnLoadersAB.java} (one JVM, the two builds through class loaders of their own alternating, median
   * per-round ratios; Zen 4 EPYC, 16 lanes; two to four JVMs): 4096x20 0.88-0.95x, 4096x24 0.76-0.83x, 2048x31
   * 0.65-0.69x, 4096x127 0.83-0.90x; but 4096x16 0.99-1.14x, 64x17 and 4096x17 0.98-1.20x, 4096x18 1.01-1.19x, 16x33
   * 1.18-1.20x, 16384x32 0.93-0.99x, 8192x64 0.99-1.05x. Against the thirty-second session's row loop (one body,
   * swapping accumulators), one JVM in each order: 4096x20 0.92-0.98x, 4096x24 0.74-0.83x, 2048x31 0.65-0.67x,
   * 4096x40 0.78-0.82x, 4096x127 0.97-1.00x, 1024x100 0.99-1.08x (16x33, the row loop in both builds, 0.87-0.91x: the
   * probe's noise), so the rule stands.
   *
   * <p>Every narrow row in blocks was tried (3775afd..edc5b44): the row loop's unrolled form, in its C2 compilations
   * before the last, boxed vectors for thousands of calls ({@code docs/probes/BwAlloc.java}: 96-864 B a row in a second
   * pass over the peers' shapes, 4b1a29f's row loop as much; the one-body form allocates nothing after the first shape),
   * the blocks' small methods not. But a path that only narrow rows take reaches C2
   * late where much else is compiling: KernelMixAllocationTest, whose one narrow backward case (16x17) then took the
   * blocks, failed in two of three full-suite runs (1.7 KB a row, interpreter and C1 code in all its rounds) and in
   * every run with half its warm-up passes, while the row loop is compiled early by the wide cases.
   */
  static boolean backwardInBlocks(int features) {
    return rowsApartBlock(features) > 1 && features > LANES && features % LANES >= 4;
  }

  /**
   * {@link #backward} on rows of fewer than 8 vectors, a block of rows ({@link #rowsApartBlock}) at a time in three
   * passes with the rows' loops inside: every row's Σg and Σg·(x - m) ({@link #backwardRowSums}), every row's dx
   * ({@link #backwardWriteRows}), dGamma and dBeta before them (dx may be x or dy), feature by feature over the block's
   * rows ({@link #gradientRows}). Each sum takes the operations of the row loop in the same order (dGamma and dBeta add
   * the rows in row order, feature by feature), so the same bits as the row loop and the native body.
   *
   * <p>Why: on narrow rows the row loop's time went to the row's scalar tail (Σg, Σg·d, dGamma, dBeta and dx one
   * float at a time, dGamma and dBeta through memory from row to row), about 3.5 ns a float of the tail on the Zen 4
   * EPYC (4096x31 against 4096x16, {@code docs/probes/LnBwNarrow.java}); here dx and the gradients take the tail in
   * one vector and only the two sums stay scalar. (The row loop's unrolled form also boxed vectors until C2's last
   * compilation of it, {@link #backwardInBlocks}; its one-body form since 4065373 does not.)
   */
  static void backwardBlocks(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                             float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    int block = rowsApartBlock(features);
    float[] t = Scratch.borrow(2 * block), u = Scratch.borrow(2 * block); // per row of the block: Σg, Σg·d; k, b
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0), o = r0 * features;
        backwardRowSums(x, xOffset + o, dy, dyOffset + o, n, features, gamma, mean, invStd, statsOffset + r0, t, block);
        backwardCoefficients(invStd, statsOffset + r0, n, features, t, u, block);
        // the gradients before the writes: dx may be x or dy
        if (dGamma != null || dBeta != null) gradientRows(x, xOffset + o, dy, dyOffset + o, n, features, mean, invStd, statsOffset + r0, dGamma, dBeta);
        backwardWriteRows(x, xOffset + o, dy, dyOffset + o, dx, dxOffset + o, n, features, gamma, mean, invStd, statsOffset + r0, u, block);
      }
    } finally {
      Scratch.release(u);
      Scratch.release(t);
    }
  }

  /** Σg and Σg·(x - m) (g = dy·gamma) of each of {@code rows} rows into {@code t} ({@code i}, {@code block + i}): {@link #backward}'s reduction without the gradients. */
  static void backwardRowSums(float[] x, int xo, float[] dy, int go, int rows, int features, float[] gamma, float[] mean,
                              float[] invStd, int so, float[] t, int block) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES);
    for (int r = 0; r < rows; r++, xo += features, go += features) {
      float m = mean[so + r];
      FloatVector vm = FloatVector.broadcast(SPECIES, m);
      FloatVector g0 = FloatVector.zero(SPECIES), g1 = g0, p0 = g0, p1 = g0;
      int f = 0;
      for (; f < bound2; f += 2 * LANES) {
        FloatVector t0 = FloatVector.fromArray(SPECIES, dy, go + f), t1 = FloatVector.fromArray(SPECIES, dy, go + f + LANES);
        FloatVector d0 = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm), d1 = FloatVector.fromArray(SPECIES, x, xo + f + LANES).sub(vm);
        if (gamma != null) {
          t0 = t0.mul(FloatVector.fromArray(SPECIES, gamma, f));
          t1 = t1.mul(FloatVector.fromArray(SPECIES, gamma, f + LANES));
        }
        g0 = g0.add(t0);
        g1 = g1.add(t1);
        p0 = t0.fma(d0, p0);
        p1 = t1.fma(d1, p1);
      }
      for (; f < vb; f += LANES) {
        FloatVector t0 = FloatVector.fromArray(SPECIES, dy, go + f), d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
        if (gamma != null) t0 = t0.mul(FloatVector.fromArray(SPECIES, gamma, f));
        g0 = g0.add(t0);
        p0 = t0.fma(d, p0);
      }
      long lanes = PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
      float sumG = Float.intBitsToFloat((int) (lanes >>> 32)), sumGd = Float.intBitsToFloat((int) lanes);
      for (; f < features; f++) {
        float d = x[xo + f] - m, g = gamma == null ? dy[go + f] : dy[go + f] * gamma[f];
        sumG += g;
        sumGd = Math.fma(g, d, sumGd);
      }
      t[r] = sumG;
      t[block + r] = sumGd;
    }
  }

  /**
   * The row loop's k = -s Σg / n and b = -s³ Σg·d / n of {@code rows} rows in double (the same operations in the same
   * order) from Σg at {@code t[i]} and Σg·d at {@code t[block + i]}, into {@code u[i]} and {@code u[block + i]}. Plain
   * scalar loops: the rows' divisions no longer sit between each row's sums and its writes, but C2 does not vectorize
   * them (as it did not blockStatistics' as plain loops); double vectors from doubles, as there, are left to try.
   */
  static void backwardCoefficients(float[] invStd, int so, int rows, int features, float[] t, float[] u, int block) {
    for (int i = 0; i < rows; i++) u[i] = (float) (-(double) invStd[so + i] * t[i] / features);
    for (int i = 0; i < rows; i++) {
      double s = invStd[so + i];
      u[block + i] = (float) (-s * s * s * t[block + i] / features);
    }
  }

  /**
   * dx = (x - m) * b + (g * s + k) over {@code rows} rows, b and k at {@code c[block + i]}, {@code c[i]}: {@link #backward}'s
   * formula per element, the row's last floats as one vector ending at its end, loaded before the row's stores
   * ({@link #writeRows} says why; dx may be x or dy).
   */
  static void backwardWriteRows(float[] x, int xo, float[] dy, int go, float[] dx, int dxo, int rows, int features, float[] gamma,
                                float[] mean, float[] invStd, int so, float[] c, int block) {
    int vb = SPECIES.loopBound(features), last = features - LANES;
    boolean overlap = vectorTail(features);
    for (int r = 0; r < rows; r++, xo += features, go += features, dxo += features) {
      float m = mean[so + r], s = invStd[so + r], b = c[block + r], k = c[r];
      FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
      FloatVector vb2 = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
      if (overlap) {
        FloatVector g = FloatVector.fromArray(SPECIES, dy, go + last);
        if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, last));
        FloatVector u = FloatVector.fromArray(SPECIES, x, xo + last).sub(vm).fma(vb2, g.fma(vs, vk));
        for (int f = 0; f < vb; f += LANES) {
          FloatVector gf = FloatVector.fromArray(SPECIES, dy, go + f);
          if (gamma != null) gf = gf.mul(FloatVector.fromArray(SPECIES, gamma, f));
          FloatVector.fromArray(SPECIES, x, xo + f).sub(vm).fma(vb2, gf.fma(vs, vk)).intoArray(dx, dxo + f);
        }
        u.intoArray(dx, dxo + last);
        continue;
      }
      int f = 0;
      for (; f < vb; f += LANES) {
        FloatVector gf = FloatVector.fromArray(SPECIES, dy, go + f);
        if (gamma != null) gf = gf.mul(FloatVector.fromArray(SPECIES, gamma, f));
        FloatVector.fromArray(SPECIES, x, xo + f).sub(vm).fma(vb2, gf.fma(vs, vk)).intoArray(dx, dxo + f);
      }
      for (; f < features; f++) {
        float d = x[xo + f] - m, g = gamma == null ? dy[go + f] : dy[go + f] * gamma[f];
        dx[dxo + f] = Math.fma(d, b, Math.fma(g, s, k));
      }
    }
  }

  /**
   * dGamma += Σ dy·(x - m)·s and dBeta += Σ dy over {@code rows} rows, feature by feature: each vector of features
   * summed over the rows in a register, in row order, with {@link #accumulateGradients}' operations; the last
   * {@code features % LANES} in one vector ending at the row's end whose other lanes are left as they are, with the
   * row loop's scalar operations ({@code dGamma + dy * ((x - m) * s)}). Reads x and dy: runs before the block's dx
   * writes.
   */
  static void gradientRows(float[] x, int xo, float[] dy, int go, int rows, int features, float[] mean, float[] invStd, int so,
                           float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features);
    for (int f = 0; f < vb; f += LANES) {
      FloatVector ag = FloatVector.fromArray(SPECIES, dGamma == null ? dBeta : dGamma, f), ab = FloatVector.fromArray(SPECIES, dBeta == null ? dGamma : dBeta, f);
      for (int r = 0, xa = xo + f, ga = go + f; r < rows; r++, xa += features, ga += features) {
        FloatVector t = FloatVector.fromArray(SPECIES, dy, ga);
        ag = t.fma(FloatVector.fromArray(SPECIES, x, xa).sub(mean[so + r]).mul(invStd[so + r]), ag);
        ab = t.add(ab);
      }
      if (dGamma != null) ag.intoArray(dGamma, f);
      if (dBeta != null) ab.intoArray(dBeta, f);
    }
    if (vb == features) return;
    int last = features - LANES;
    if (!vectorTail(features)) {
      for (int f = vb; f < features; f++) {
        float sg = dGamma == null ? 0 : dGamma[f], sb = dBeta == null ? 0 : dBeta[f];
        for (int r = 0; r < rows; r++) {
          float t = dy[go + r * features + f];
          sg += t * ((x[xo + r * features + f] - mean[so + r]) * invStd[so + r]);
          sb += t;
        }
        if (dGamma != null) dGamma[f] = sg;
        if (dBeta != null) dBeta[f] = sb;
      }
      return;
    }
    VectorMask<Float> tail = SPECIES.indexInRange(features - vb - LANES, features - vb); // lanes [LANES - features % LANES, LANES)
    FloatVector ag = FloatVector.fromArray(SPECIES, dGamma == null ? dBeta : dGamma, last), ab = FloatVector.fromArray(SPECIES, dBeta == null ? dGamma : dBeta, last);
    for (int r = 0, xa = xo + last, ga = go + last; r < rows; r++, xa += features, ga += features) {
      FloatVector t = FloatVector.fromArray(SPECIES, dy, ga);
      ag = ag.lanewise(VectorOperators.ADD, t.mul(FloatVector.fromArray(SPECIES, x, xa).sub(mean[so + r]).mul(invStd[so + r])), tail);
      ab = ab.lanewise(VectorOperators.ADD, t, tail);
    }
    if (dGamma != null) ag.intoArray(dGamma, last);
    if (dBeta != null) ab.intoArray(dBeta, last);
  }

  /** dGamma += dy * (x - mean) * invStd, dBeta += dy, at features [f, f + LANES); null ones skipped. */
  static void accumulateGradients(float[] dGamma, float[] dBeta, int f, FloatVector dy, FloatVector d, FloatVector s) {
    if (dGamma != null) dy.fma(d.mul(s), FloatVector.fromArray(SPECIES, dGamma, f)).intoArray(dGamma, f);
    if (dBeta != null) dy.add(FloatVector.fromArray(SPECIES, dBeta, f)).intoArray(dBeta, f);
  }

  /**
   * RMS norm in one pass a row: the pass that writes row r sums the squares of row r + 2, and row r + 1's
   * invRms was finished after the previous pass (two rows ahead; the sum-then-write form it replaces took
   * 1.04-1.05x the time at 2048x768 and 1024x1000 in an interleaved probe). The first two rows are summed by
   * {@link #scaleRow} itself (writing to scratch, discarded), so a row's invRms does not depend on where the
   * call starts, and no vector loop runs once a call (see {@link #forward}). A null gamma is pooled ones: x * s * 1 is x * s exactly.
   */
  @Override
  public void rmsForward(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] gamma, float epsilon,
                         float[] invRms, int statsOffset) {
    float[] g = ones(gamma, features);
    try {
      if (rowsApart(rows, features)) rmsForwardRowsApart(x, xOffset, y, yOffset, rows, features, g, epsilon, invRms, statsOffset);
      else rmsForwardPipelined(x, xOffset, y, yOffset, rows, features, g, epsilon, invRms, statsOffset);
    } finally {
      release(gamma, g);
    }
  }

  /** {@link #rmsForward}'s pipelined loop (described there), gamma not null. */
  static void rmsForwardPipelined(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g, float epsilon,
                                  float[] invRms, int statsOffset) {
    float[] discard = Scratch.borrow(features);
    try {
      // The first two rows are summed by the row loop's own method (writes to scratch), as in forward.
      boolean lines = onLines(rows, features); // wide rows from line-aligned loads, as forward (scaleRowOnLines)
      float s = invRms(scalePass(lines, x, xOffset, discard, 0, features, g, 1f, xOffset), features, epsilon);
      float following = rows <= 1 ? 0 : invRms(scalePass(lines, x, xOffset, discard, 0, features, g, 1f, xOffset + features), features, epsilon);
      for (int r = 0; r < rows; r++) {
        int xo = xOffset + r * features;
        if (invRms != null) invRms[statsOffset + r] = s;
        boolean more = r + 2 < rows;
        int ahead = xo + 2 * features;
        int next = more ? ahead : xo;
        float squares = scalePass(lines, x, xo, y, yOffset + r * features, features, g, s, next);
        s = following;
        if (more) following = invRms(squares, features, epsilon);
      }
    } finally {
      Scratch.release(discard);
    }
  }

  /**
   * {@link #rmsForward} for the calls layer norm's forward takes rows apart ({@link #rowsApart}): per row its squares
   * in a read of their own ({@link #rowSquares}), then its writes from L1; the same sums in the same order as
   * {@link #scaleRow}'s, so the same bits as the pipelined loop (and the native body). Twenty-ninth session (Zen 4;
   * {@code docs/probes/RmsFwdAB.java}, in package dev.vecnorm.internal, the two alternating in one JVM, two JVMs,
   * medians of the per-round ratio rows apart / pipelined): 4096x17 0.68-0.87, 16384x32 0.67, 8192x64 0.76, 4096x256
   * 0.92-1.07, 64x768 0.95-0.98; at 2048x768 0.80-0.89, within this VM's spread, so wide rows from memory keep the
   * pipelined loop under layer norm's rule. The pipelined loop sums two rows ahead, so its row-to-row chain
   * is shorter than layer norm's was, and short rows still gained.
   */
  static void rmsForwardRowsApart(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g,
                                  float epsilon, float[] invRms, int statsOffset) {
    int block = rowsApartBlock(features);
    float[] t = Scratch.borrow(block); // per row of the block (rowsApartBlock): Σx², then invRms
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0);
        rowSquares(x, xOffset + r0 * features, n, features, t);
        for (int i = 0; i < n; i++) {
          t[i] = invRms(t[i], features, epsilon);
          if (invRms != null) invRms[statsOffset + r0 + i] = t[i];
        }
        scaleRows(x, xOffset + r0 * features, y, yOffset + r0 * features, n, features, g, t);
      }
    } finally {
      Scratch.release(t);
    }
  }

  /**
   * y = x * s * gamma over {@code rows} rows of {@code width} floats, row i's s at {@code t[i]}: {@link #scaleRow}'s
   * formula per element, the row's tail as one vector as {@link #writeRows} writes it (so y may be x). A method of its
   * own, called once a block, for the reason {@link #rowSums} is: inside {@link #rmsForwardRowsApart}'s block loop
   * (thirty-first session's form), each width that first took the other side of the tail's branch trapped the
   * method's C2 code back to C1, which runs the Vector API as objects, for whole calls until the method was compiled
   * again: in {@code docs/probes/FwAlloc.java}'s second pass over the peers' shapes 64x17 took 322-459 ns a row and
   * 55 KB a call, 4096x17 175-208 ns a row and 2.6 MB a call (25 ns a row in the third pass); called once a block,
   * C2 compiles it again within a call or two.
   */
  static void scaleRows(float[] x, int xa, float[] y, int ya, int rows, int width, float[] gamma, float[] t) {
    int vb = SPECIES.loopBound(width), last = width - LANES;
    boolean overlap = vectorTail(width); // the row's last floats as one vector: see writeRows
    for (int r = 0; r < rows; r++, xa += width, ya += width) {
      float s = t[r];
      FloatVector vs = FloatVector.broadcast(SPECIES, s);
      if (overlap) {
        FloatVector u = FloatVector.fromArray(SPECIES, x, xa + last).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, last));
        for (int f = 0; f < vb; f += LANES) {
          FloatVector.fromArray(SPECIES, x, xa + f).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, ya + f);
        }
        u.intoArray(y, ya + last);
        continue;
      }
      int f = 0;
      for (; f < vb; f += LANES) {
        FloatVector.fromArray(SPECIES, x, xa + f).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, ya + f);
      }
      for (; f < width; f++) y[ya + f] = x[xa + f] * s * gamma[f];
    }
  }

  /**
   * Σx² of each of {@code rows} rows of {@code width} floats from {@code xo} into {@code t}, each in {@link #scaleRow}'s
   * order: two accumulators, one vector, a scalar tail, then the lane sum added. The rows' loop is inside for the
   * reason {@link #rowSums} gives.
   */
  static void rowSquares(float[] x, int xo, int rows, int width, float[] t) {
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (int r = 0; r < rows; r++, xo += width) {
      FloatVector q0 = FloatVector.zero(SPECIES), q1 = q0;
      int f = 0;
      for (; f < bound2; f += 2 * LANES) {
        FloatVector v0 = FloatVector.fromArray(SPECIES, x, xo + f), v1 = FloatVector.fromArray(SPECIES, x, xo + f + LANES);
        q0 = v0.fma(v0, q0);
        q1 = v1.fma(v1, q1);
      }
      for (; f < vb; f += LANES) {
        FloatVector v = FloatVector.fromArray(SPECIES, x, xo + f);
        q0 = v.fma(v, q0);
      }
      float sq = 0;
      for (; f < width; f++) sq = Math.fma(x[xo + f], x[xo + f], sq);
      t[r] = sq + PanamaBatchNormSupport.sumLanes(q0.add(q1));
    }
  }

  /**
   * {@link #scaleRow} when {@code lines} is false, else {@link #scaleRowOnLines} for every row, rows near the array's ends through a pooled copy
   * (the same bits), as {@link #rowPass} does for layer norm and for the same reason: {@link #scaleRow} taken for
   * three or four rows a call stays in C1.
   */
  static float scalePass(boolean lines, float[] x, int xo, float[] y, int yo, int width, float[] gamma, float s, int next) {
    if (!lines) return scaleRow(x, xo, y, yo, width, gamma, s, next);
    if (onLines(x.length, xo, next, width)) return scaleRowOnLines(x, xo, y, yo, width, gamma, s, next);
    float[] c = copyRows(x, xo, next, width);
    try {
      return scaleRowOnLines(c, LANES, y, yo, width, gamma, s, copiedNext(xo, next, width));
    } finally {
      Scratch.release(c);
    }
  }

  /** {@code 1/sqrt(Σx² / n + epsilon)} in double. */
  static float invRms(float squares, int n, float epsilon) {
    return (float) (1.0 / Math.sqrt((double) squares / n + epsilon));
  }

  /**
   * y = x * s * gamma over a row, and in the same loop Σx² of the row at {@code next}: two accumulators over
   * {@code 2 * LANES} floats, then one vector, a scalar tail, one lane sum ({@link #blockSums}' order about 0).
   */
  /**
   * {@link #scaleRow} with both rows' vectors (the row written and the row summed) rebuilt from line-aligned loads, as
   * {@link #normalizeRowOnLines}: the same lanes, the same bits; taken under the same conditions
   * ({@link #onLines(int, int)}, {@link #onLines(int, int, int, int)}). Switched against {@link #scaleRow} in one JVM
   * (AVX-512 EPYC, Zen 5 class; 21 alternating rounds; bits equal; on / off medians): 1024x1000 0.82, 0.94, 8192x1000
   * 0.63, 0.76, 4096x1024 0.73, 1024x2048 0.92, 2048x4096 0.89, 1024x1031 0.94, 128x4096 0.99, 512x4096 1.00, 1.05.
   */
  static float scaleRowOnLines(float[] x, int xo, float[] y, int yo, int width, float[] gamma, float s, int next) {
    int hx = PanamaBatchNormSupport.lineHead(xo), hn = PanamaBatchNormSupport.lineHead(next), ax = xo + hx, an = next + hn;
    FloatVector ix = PanamaBatchNormSupport.lineIndex(hx), in = PanamaBatchNormSupport.lineIndex(hn);
    FloatVector px = FloatVector.fromArray(SPECIES, x, ax - LANES), pn = FloatVector.fromArray(SPECIES, x, an - LANES);
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector q0 = FloatVector.zero(SPECIES), q1 = q0;
    int f = 0, vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (; f < bound2; f += 2 * LANES) {
      FloatVector n0 = FloatVector.fromArray(SPECIES, x, an + f), n1 = FloatVector.fromArray(SPECIES, x, an + f + LANES);
      FloatVector v0 = in.selectFrom(pn, n0), v1 = in.selectFrom(n0, n1);
      pn = n1;
      q0 = v0.fma(v0, q0);
      q1 = v1.fma(v1, q1);
      FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + f), c1 = FloatVector.fromArray(SPECIES, x, ax + f + LANES);
      ix.selectFrom(px, c0).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, yo + f);
      ix.selectFrom(c0, c1).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f + LANES)).intoArray(y, yo + f + LANES);
      px = c1;
    }
    for (; f < vb; f += LANES) {
      FloatVector n0 = FloatVector.fromArray(SPECIES, x, an + f);
      FloatVector v = in.selectFrom(pn, n0);
      pn = n0;
      q0 = v.fma(v, q0);
      FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + f);
      ix.selectFrom(px, c0).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, yo + f);
      px = c0;
    }
    float sq = 0;
    for (; f < width; f++) { // scalar tail
      sq = Math.fma(x[next + f], x[next + f], sq);
      y[yo + f] = x[xo + f] * s * gamma[f];
    }
    return sq + PanamaBatchNormSupport.sumLanes(q0.add(q1));
  }

  static float scaleRow(float[] x, int xo, float[] y, int yo, int width, float[] gamma, float s, int next) {
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector q0 = FloatVector.zero(SPECIES), q1 = q0;
    int f = 0, vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (; f < bound2; f += 2 * LANES) {
      FloatVector v0 = FloatVector.fromArray(SPECIES, x, next + f), v1 = FloatVector.fromArray(SPECIES, x, next + f + LANES);
      q0 = v0.fma(v0, q0);
      q1 = v1.fma(v1, q1);
      FloatVector.fromArray(SPECIES, x, xo + f).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, yo + f);
      FloatVector.fromArray(SPECIES, x, xo + f + LANES).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f + LANES))
          .intoArray(y, yo + f + LANES);
    }
    for (; f < vb; f += LANES) {
      FloatVector v = FloatVector.fromArray(SPECIES, x, next + f);
      q0 = v.fma(v, q0);
      FloatVector.fromArray(SPECIES, x, xo + f).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f)).intoArray(y, yo + f);
    }
    float sq = 0;
    for (; f < width; f++) { // scalar tail
      sq = Math.fma(x[next + f], x[next + f], sq);
      y[yo + f] = x[xo + f] * s * gamma[f];
    }
    return sq + PanamaBatchNormSupport.sumLanes(q0.add(q1));
  }

  @Override
  public void rmsBackward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                          float[] gamma, float[] invRms, int statsOffset, float[] dGamma) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES);
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
      float s = invRms[statsOffset + r];
      FloatVector vs = FloatVector.broadcast(SPECIES, s);
      FloatVector p0 = FloatVector.zero(SPECIES), p1 = FloatVector.zero(SPECIES);
      int f = 0;
      for (; f < bound2; f += 2 * LANES) {
        FloatVector t0 = FloatVector.fromArray(SPECIES, dy, go + f), t1 = FloatVector.fromArray(SPECIES, dy, go + f + LANES);
        FloatVector v0 = FloatVector.fromArray(SPECIES, x, xo + f), v1 = FloatVector.fromArray(SPECIES, x, xo + f + LANES);
        if (dGamma != null) {
          t0.fma(v0.mul(vs), FloatVector.fromArray(SPECIES, dGamma, f)).intoArray(dGamma, f);
          t1.fma(v1.mul(vs), FloatVector.fromArray(SPECIES, dGamma, f + LANES)).intoArray(dGamma, f + LANES);
        }
        if (gamma != null) {
          t0 = t0.mul(FloatVector.fromArray(SPECIES, gamma, f));
          t1 = t1.mul(FloatVector.fromArray(SPECIES, gamma, f + LANES));
        }
        p0 = t0.fma(v0, p0);
        p1 = t1.fma(v1, p1);
      }
      for (; f < vb; f += LANES) {
        FloatVector t = FloatVector.fromArray(SPECIES, dy, go + f), v = FloatVector.fromArray(SPECIES, x, xo + f);
        if (dGamma != null) t.fma(v.mul(vs), FloatVector.fromArray(SPECIES, dGamma, f)).intoArray(dGamma, f);
        if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
        p0 = t.fma(v, p0);
      }
      float sumGx = PanamaBatchNormSupport.sumLanes(p0.add(p1));
      for (; f < features; f++) {
        float v = x[xo + f], t = dy[go + f];
        if (dGamma != null) dGamma[f] += t * (v * s);
        float g = gamma == null ? t : t * gamma[f];
        sumGx = Math.fma(g, v, sumGx);
      }
      float k = (float) (-(double) s * s * s * sumGx / features);
      FloatVector vk = FloatVector.broadcast(SPECIES, k);
      for (f = 0; f < vb; f += LANES) {
        FloatVector g = FloatVector.fromArray(SPECIES, dy, go + f);
        if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
        FloatVector.fromArray(SPECIES, x, xo + f).fma(vk, g.mul(vs)).intoArray(dx, dxo + f);
      }
      for (; f < features; f++) {
        float t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        dx[dxo + f] = Math.fma(x[xo + f], k, g * s);
      }
    }
  }

  // ---------------------------------------------------------------- native segments (PanamaNativeLayerNorm)

  @Override
  public boolean forwardNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                               float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    PanamaNativeLayerNorm.forward(x, xOffset, y, yOffset, rows, features, gamma, beta, epsilon, mean, invStd, statsOffset);
    return true;
  }

  @Override
  public boolean backwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                int rows, int features, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                                float[] dBeta) {
    PanamaNativeLayerNorm.backward(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, statsOffset, dGamma,
        dBeta);
    return true;
  }

  @Override
  public boolean rmsForwardNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                                  float epsilon, float[] invRms, int statsOffset) {
    PanamaNativeLayerNorm.rmsForward(x, xOffset, y, yOffset, rows, features, gamma, epsilon, invRms, statsOffset);
    return true;
  }

  @Override
  public boolean rmsBackwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                   int rows, int features, float[] gamma, float[] invRms, int statsOffset, float[] dGamma) {
    PanamaNativeLayerNorm.rmsBackward(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, invRms, statsOffset, dGamma);
    return true;
  }
}
