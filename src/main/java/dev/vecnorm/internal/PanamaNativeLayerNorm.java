package dev.vecnorm.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link PanamaLayerNormSupport}'s layer-norm and RMS-norm kernels straight on native memory: the same
 * loops with Vector API segment loads and stores at byte offsets. The facades staged a native tensor
 * through ~64 KiB arrays (a copy in and a copy out per block); these read and write it once, as the
 * array kernels read and write the array.
 *
 * <p>Why a second body and not the array kernels on a segment: C2 compiles segment access well only while
 * a loop's type profile has seen one segment class, and only plain native segments ({@code isNative()},
 * not mapped) reach these loops (the same reason as {@link PanamaNativeMoments}).
 *
 * <p>Same arithmetic in the same order as the array kernels, so the same bits ({@code NativeLayerNormTest}):
 * every vector operation and scalar expression below is the array code's with {@code x[i]} read from the
 * segment (rows are the array code's blocks of one run). What does not read the tensor is the array
 * code's own: {@link PanamaLayerNormSupport#shiftedMean}, {@link PanamaLayerNormSupport#cancels},
 * {@link PanamaLayerNormSupport#meanInvStd}, the pooled ones/zeros for a null gamma/beta,
 * {@link PanamaLayerNormSupport#accumulateGradients}, the lane sums. Offsets are bytes ({@code long}), so
 * no tensor is too large; the segments and offsets are loop-invariant and C2 hoists their checks.
 *
 * <p>Each row loop reads and writes its rows of fewer than {@link #WIDE} floats through slices of one row, made in the
 * loop's own method and addressed from 0 (as {@link PanamaNativeMoments}' planes): C2 sets a counted loop over a
 * segment up afresh at every entry (a long range-check nest against the segment's size), and these loops are entered
 * once or twice a row. Slices made by a caller and passed down escape when the callee is not inlined. Against the same
 * loops on the whole segments at byte offsets, switched in one JVM (AVX-512 EPYC, Zen 5 class; 21 alternating rounds;
 * bits equal; medians of sliced / whole): layer norm forward 0.84-0.90 at 256-4096 features (2048x768, 1024x1000,
 * 512x4096, 4096x256; two more runs 0.74-0.95), 1.01 at 1000x100, 0.94 at 1000x17; backward 0.94-1.00 at 256-4096, 0.87
 * and 0.85 at 100 and 17; RMS forward 0.84-1.00 and 0.82, 0.94; RMS backward 0.85-1.03 and 0.72, 0.89.
 */
final class PanamaNativeLayerNorm {
  private PanamaNativeLayerNorm() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final ValueLayout.OfFloat F = PanamaBatchNormSupport.FLOAT_LE;

  /**
   * Rows of at least this many floats are read at absolute offsets into the caller's segments ({@code ...Wide}
   * methods), not through slices. A slice is free only while C2 inlines the JDK's asSlice chain into the row method
   * and scalar-replaces it, which the JDK's own asSlice profile decides: once asSlice had run compiled at tier 2 (no
   * call-site counts) before its tier-3 profile, PrintInlining showed "asSliceNoCheck ... low call site frequency" and
   * every row allocated its slices. Wide rows make that likely (their row methods reach C2 after few calls): in fresh
   * JVMs running one LayerNorm call (jmh PlainCallProbe, twenty-sixth session), forward 512x4096 allocated its three
   * slices a row (62040 B a call) in 9 of 9, 680x3072 in 6 of 7, 256x8192 in 3 of 3, backward 512x4096 in 2 of 3;
   * forward 1024x2048 in 0 of 7, 2048x1024 0 of 4, 800x2560 0 of 3 (backward 0 of 3). 2048 keeps a margin below the
   * first width seen allocating. The cost: absolute offsets set a long range check up at every loop entry, which short
   * rows feel (20-30% at 256-1000 features, so they keep their slices). Where the slices were scalar-replaced
   * (LayerNormSweep 1024x2048 680x3072 512x4096 256x8192 1024x1000 in one JVM, -Dop=nfwd,nbwd,nrms, three alternating
   * JVM pairs, medians; whole/sliced) forward 1.12, 1.15, 1.08, 1.02; RMS forward 1.16, 1.06, 1.06, 1.07; backward
   * 0.96-1.03; 1000 features unchanged. In plain JVMs, where the sliced rows allocated, the medians were alike
   * (512x4096 forward 419-496 us sliced, 427-515 whole; four JVMs each).
   */
  static final int WIDE = 2048;

  // ---------------------------------------------------------------- layer norm forward

  /** {@link PanamaLayerNormSupport#forward}: each row's sums are taken in the loop that writes the row before it. */
  static void forward(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                      float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    float[] g = PanamaLayerNormSupport.ones(gamma, features), b = PanamaLayerNormSupport.zeros(beta, features);
    try {
      if (PanamaLayerNormSupport.rowsApartBlock(features) > 1) {
        forwardStaged(x, xOffset, y, yOffset, rows, features, g, b, epsilon, mean, invStd, statsOffset, false);
        return;
      }
      long rowBytes = 4L * features;
      // Row 0 and the two-pass redo summed by normalizeRow itself (output discarded), as the array forward does.
      MemorySegment discard = discard(rowBytes);
      long stats = statistics(x, xOffset, features, epsilon, discard, g, b,
          normalizeRow(x, xOffset, discard, 0, features, g, b, 0f, 1f, xOffset, x.get(F, xOffset)));
      for (int r = 0; r < rows; r++) {
        long xo = xOffset + r * rowBytes, yo = yOffset + r * rowBytes;
        float m = Float.intBitsToFloat((int) (stats >>> 32)), s = Float.intBitsToFloat((int) stats);
        if (mean != null) mean[statsOffset + r] = m;
        if (invStd != null) invStd[statsOffset + r] = s;
        boolean more = r + 1 < rows;
        long next = more ? xo + rowBytes : xo;
        long sums = normalizeRow(x, xo, y, yo, features, g, b, m, s, next, x.get(F, next));
        if (more) stats = statistics(x, next, features, epsilon, discard, g, b, sums);
      }
    } finally {
      PanamaLayerNormSupport.release(beta, b);
      PanamaLayerNormSupport.release(gamma, g);
    }
  }

  /**
   * {@link #forward} on rows under 8 vectors (and {@link #rmsForward}, {@code rms}: invRms in {@code invStd}): each block of rows ({@link PanamaLayerNormSupport#rowsApartBlock}, at most
   * 2048 floats) copied into pooled scratch, normalized there in place by the array code's rows-apart forward (the
   * same bits as this body's row loop: LayerNormRowsApartTest), and copied out. The block's two copies (8 KiB at most,
   * from L1/L2) cost less than the row loop's per-row chain on narrow rows, and the array kernels are the ones every
   * narrow float[] call keeps compiled (a native-only copy of them would reach C2 later: see
   * PanamaLayerNormSupport.backwardInBlocks). Thirty-first session, LayerNorm.forward, ns a row, float[] / native before
   * / native staged ({@code docs/probes/NatVsArr.java}, medians of 11 rounds, one JVM per build; Zen 4 EPYC): 4096x17
   * 19.4 / 31.9 / 24.8, 16384x32 17.8 / 32.5 / 22.2, 8192x64 25.0 / 37.1 / 33.0, 4096x24 21.4 / 39.0 / 24.2, 2048x31
   * 23.2 / 47.0 / 27.0, 1024x100 34.6 / 48.0 / 48.1. Still short of float[]: the copies are most of the difference.
   */
  private static void forwardStaged(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features,
                                    float[] g, float[] b, float epsilon, float[] mean, float[] invStd, int statsOffset, boolean rms) {
    int block = PanamaLayerNormSupport.rowsApartBlock(features);
    float[] rowsBuf = Scratch.borrow(block * features);
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0), floats = n * features;
        long at = 4L * r0 * features;
        MemorySegment.copy(x, F, xOffset + at, rowsBuf, 0, floats);
        if (rms) PanamaLayerNormSupport.rmsForwardRowsApart(rowsBuf, 0, rowsBuf, 0, n, features, g, epsilon, invStd, statsOffset + r0);
        else PanamaLayerNormSupport.forwardRowsApart(rowsBuf, 0, rowsBuf, 0, n, features, g, b, epsilon, mean, invStd, statsOffset + r0);
        MemorySegment.copy(rowsBuf, 0, y, F, yOffset + at, floats);
      }
    } finally {
      Scratch.release(rowsBuf);
    }
  }

  /** Each thread's native row of scratch for {@link #forward}'s discarded writes (the largest row it has needed). */
  private static final ThreadLocal<MemorySegment> DISCARD = new ThreadLocal<>();

  /**
   * A native scratch row of at least {@code bytes}: native, as the loops' {@code y}, so normalizeRow's type
   * profile sees one segment class; freed with its automatic arena once a larger one replaces it.
   */
  private static MemorySegment discard(long bytes) {
    MemorySegment d = DISCARD.get();
    if (d == null || d.byteSize() < bytes) DISCARD.set(d = Arena.ofAuto().allocate(bytes, 64));
    return d;
  }

  /**
   * PanamaLayerNormSupport's rowStatistics of one row at byte offset {@code at}: its redo about the mean is
   * summed by {@link #normalizeRow} into {@code discard}, not by a loop of its own that runs a few times a
   * call and so stays in C1 (Vector API as objects) for hundreds of calls.
   */
  private static long statistics(MemorySegment x, long at, int width, float epsilon, MemorySegment discard, float[] g, float[] b,
                                 long sums) {
    double invN = 1.0 / ((double) 1 * width);
    float m = PanamaLayerNormSupport.shiftedMean(x.get(F, at), sums, invN);
    if (PanamaLayerNormSupport.cancels(sums, invN)) sums = normalizeRow(x, at, discard, 0, width, g, b, 0f, 1f, at, m);
    return PanamaLayerNormSupport.meanInvStd(m, sums, invN, epsilon);
  }

  /** {@link #normalizeRowSliced} or, for rows of at least {@link #WIDE} floats, {@link #normalizeRowWide}. */
  private static long normalizeRow(MemorySegment x, long xa, MemorySegment y, long ya, int width, float[] gamma, float[] beta,
                                   float m, float s, long na, float x0) {
    return width >= WIDE ? normalizeRowWide(x, xa, y, ya, width, gamma, beta, m, s, na, x0)
        : normalizeRowSliced(x, xa, y, ya, width, gamma, beta, m, s, na, x0);
  }

  /** {@link PanamaLayerNormSupport#normalizeBlock} of one row (byte offsets), summing the row at {@code na} about {@code x0}. */
  private static long normalizeRowSliced(MemorySegment x, long xa, MemorySegment y, long ya, int width, float[] gamma, float[] beta,
                                         float m, float s, long na, float x0) {
    long rowBytes = 4L * width;
    MemorySegment xq = x.asSlice(xa, rowBytes), nq = x.asSlice(na, rowBytes), yq = y.asSlice(ya, rowBytes);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vx0 = FloatVector.broadcast(SPECIES, x0);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    int f = 0;
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, nq, o0, LE).sub(vx0);
      FloatVector e1 = FloatVector.fromMemorySegment(SPECIES, nq, o1, LE).sub(vx0);
      d0 = d0.add(e0);
      d1 = d1.add(e1);
      q0 = e0.fma(e0, q0);
      q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromMemorySegment(SPECIES, xq, o0, LE).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoMemorySegment(yq, o0, LE);
      FloatVector t1 = FloatVector.fromMemorySegment(SPECIES, xq, o1, LE).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(SPECIES, gamma, f + LANES), FloatVector.fromArray(SPECIES, beta, f + LANES))
          .intoMemorySegment(yq, o1, LE);
    }
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector e = FloatVector.fromMemorySegment(SPECIES, nq, o, LE).sub(vx0);
      d0 = d0.add(e);
      q0 = e.fma(e, q0);
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, xq, o, LE).sub(vm).mul(vs);
      t.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoMemorySegment(yq, o, LE);
    }
    // Both lane sums in one call, before the scalar tail (added after it: the same bits as the array code).
    // Two calls after the tail's segment accesses met C2's inlining node budget when the one-vector tail
    // was compiled (4095 features at 16 lanes), and their vectors were boxed: 192 B a row.
    long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1));
    for (; f < width; f++) { // scalar tail
      long o = 4L * f;
      float e = nq.get(F, o) - x0;
      sd += e;
      sq = Math.fma(e, e, sq);
      yq.set(F, o, Math.fma((xq.get(F, o) - m) * s, gamma[f], beta[f]));
    }
    sd += Float.intBitsToFloat((int) (lanes >>> 32));
    sq += Float.intBitsToFloat((int) lanes);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /** {@link #normalizeRowSliced} at absolute offsets: the same operations in the same order. */
  private static long normalizeRowWide(MemorySegment x, long xa, MemorySegment y, long ya, int width, float[] gamma, float[] beta,
                                       float m, float s, long na, float x0) {
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vx0 = FloatVector.broadcast(SPECIES, x0);
    FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
    int vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    float sd = 0, sq = 0;
    int f = 0;
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, na + o0, LE).sub(vx0);
      FloatVector e1 = FloatVector.fromMemorySegment(SPECIES, x, na + o1, LE).sub(vx0);
      d0 = d0.add(e0);
      d1 = d1.add(e1);
      q0 = e0.fma(e0, q0);
      q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromMemorySegment(SPECIES, x, xa + o0, LE).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoMemorySegment(y, ya + o0, LE);
      FloatVector t1 = FloatVector.fromMemorySegment(SPECIES, x, xa + o1, LE).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(SPECIES, gamma, f + LANES), FloatVector.fromArray(SPECIES, beta, f + LANES))
          .intoMemorySegment(y, ya + o1, LE);
    }
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector e = FloatVector.fromMemorySegment(SPECIES, x, na + o, LE).sub(vx0);
      d0 = d0.add(e);
      q0 = e.fma(e, q0);
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, x, xa + o, LE).sub(vm).mul(vs);
      t.fma(FloatVector.fromArray(SPECIES, gamma, f), FloatVector.fromArray(SPECIES, beta, f)).intoMemorySegment(y, ya + o, LE);
    }
    // Both lane sums in one call, before the scalar tail: see normalizeRowSliced.
    long lanes = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1));
    for (; f < width; f++) { // scalar tail
      long o = 4L * f;
      float e = x.get(F, na + o) - x0;
      sd += e;
      sq = Math.fma(e, e, sq);
      y.set(F, ya + o, Math.fma((x.get(F, xa + o) - m) * s, gamma[f], beta[f]));
    }
    sd += Float.intBitsToFloat((int) (lanes >>> 32));
    sq += Float.intBitsToFloat((int) lanes);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  // ---------------------------------------------------------------- layer norm backward

  /**
   * {@link PanamaLayerNormSupport#backward} with byte offsets, each row's reduction and its writes in methods
   * of their own: in one method, as the array code has it, the segment accesses' extra nodes pushed C2
   * past its inlining budget and vectors were boxed (megabytes allocated per call at 1024x1000).
   */
  static void backward(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset, int rows,
                       int features, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    if (PanamaLayerNormSupport.backwardInBlocks(features)) {
      backwardStaged(x, xOffset, dy, dyOffset, dx, dxOffset, rows, features, gamma, mean, invStd, statsOffset, dGamma, dBeta);
      return;
    }
    long rowBytes = 4L * features;
    for (int r = 0; r < rows; r++) {
      long xo = xOffset + r * rowBytes, go = dyOffset + r * rowBytes, dxo = dxOffset + r * rowBytes;
      float m = mean[statsOffset + r], s = invStd[statsOffset + r];
      long sums = backwardSums(x, xo, dy, go, features, gamma, m, s, dGamma, dBeta);
      float sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGd = Float.intBitsToFloat((int) sums);
      float b = (float) (-(double) s * s * s * sumGd / features), k = (float) (-(double) s * sumG / features);
      backwardRow(x, xo, dy, go, dx, dxo, features, gamma, m, s, b, k);
    }
  }

  /**
   * {@link #backward} where the array code takes its blocks ({@link PanamaLayerNormSupport#backwardInBlocks}: rows under 8
   * vectors with a tail of 4 floats or more), staged as {@link #forwardStaged}: each block's x and dy copied into pooled
   * scratch, the array blocks run there with dx over the dy copy (the same bits as this body's row loop), dx copied
   * out; dGamma and dBeta add the blocks in row order. Where the array code keeps its row loop, so does this body: staged
   * there, 8192x64 measured 52 ns a row before and 66 after ({@code docs/probes/NatVsArr.java}), the three copies
   * outweighing the row loop's gain.
   */
  private static void backwardStaged(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                     int rows, int features, float[] gamma, float[] mean, float[] invStd, int statsOffset,
                                     float[] dGamma, float[] dBeta) {
    int block = PanamaLayerNormSupport.rowsApartBlock(features);
    float[] xb = Scratch.borrow(block * features), gb = Scratch.borrow(block * features);
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0), floats = n * features, so = statsOffset + r0;
        long at = 4L * r0 * features;
        MemorySegment.copy(x, F, xOffset + at, xb, 0, floats);
        MemorySegment.copy(dy, F, dyOffset + at, gb, 0, floats);
        PanamaLayerNormSupport.backwardBlocks(xb, 0, gb, 0, gb, 0, n, features, gamma, mean, invStd, so, dGamma, dBeta);
        MemorySegment.copy(gb, 0, dx, F, dxOffset + at, floats);
      }
    } finally {
      Scratch.release(gb);
      Scratch.release(xb);
    }
  }

  /** A row's Σg and Σg·(x - m) (packed high and low), adding into dGamma and dBeta in the same read. */
  private static long backwardSums(MemorySegment x, long xo, MemorySegment dy, long go, int features, float[] gamma, float m, float s,
                                   float[] dGamma, float[] dBeta) {
    long lanes = backwardLanes(x, xo, dy, go, features, gamma, m, s, dGamma, dBeta);
    float sumG = Float.intBitsToFloat((int) (lanes >>> 32)), sumGd = Float.intBitsToFloat((int) lanes);
    for (int f = SPECIES.loopBound(features); f < features; f++) { // scalar tail, after the lane sums as in the array code
      long o = 4L * f;
      float d = x.get(F, xo + o) - m, t = dy.get(F, go + o);
      if (dGamma != null) dGamma[f] += t * (d * s);
      if (dBeta != null) dBeta[f] += t;
      float g = gamma == null ? t : t * gamma[f];
      sumG += g;
      sumGd = Math.fma(g, d, sumGd);
    }
    return (long) Float.floatToRawIntBits(sumG) << 32 | Float.floatToRawIntBits(sumGd) & 0xFFFF_FFFFL;
  }

  /** {@link #backwardLanesSliced} or, for rows of at least {@link #WIDE} floats, {@link #backwardLanesWide}. */
  private static long backwardLanes(MemorySegment x, long xo, MemorySegment dy, long go, int features, float[] gamma, float m,
                                    float s, float[] dGamma, float[] dBeta) {
    return features >= WIDE ? backwardLanesWide(x, xo, dy, go, features, gamma, m, s, dGamma, dBeta)
        : backwardLanesSliced(x, xo, dy, go, features, gamma, m, s, dGamma, dBeta);
  }

  /**
   * The vector part of {@link #backwardSums} over [0, loopBound), both lane sums packed. The array code's
   * loop over pairs of vectors (accumulators g0/p0 for even vectors, g1/p1 for odd ones) and its one-vector
   * step after it are here one loop that swaps the two accumulator pairs every vector: the same additions
   * into the same accumulators in the same order, so the same bits, with the body parsed once. With three
   * copies of the body (two in the pair loop, one in the step, compiled once the step is taken: 4095
   * features at 16 lanes) C2 stopped inlining at its node budget (NodeCountInliningCutoff) before the lane
   * sum and boxed its vectors: 96 B a row as two sumLanes calls, 192 B as one.
   */
  private static long backwardLanesSliced(MemorySegment x, long xo, MemorySegment dy, long go, int features, float[] gamma, float m, float s,
                                          float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features);
    long rowBytes = 4L * features;
    MemorySegment xq = x.asSlice(xo, rowBytes), gq = dy.asSlice(go, rowBytes);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    // (ga, pa) takes the next vector, then the pairs swap: (ga, pa) is always the array code's g0/p0 before
    // an even vector and its g1/p1 before an odd one, two independent chains as in the pair loop.
    FloatVector ga = FloatVector.zero(SPECIES), gb = ga, pa = ga, pb = ga;
    for (int f = 0; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, gq, o, LE);
      FloatVector d = FloatVector.fromMemorySegment(SPECIES, xq, o, LE).sub(vm);
      PanamaLayerNormSupport.accumulateGradients(dGamma, dBeta, f, t, d, vs);
      if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector g = ga.add(t), p = t.fma(d, pa);
      ga = gb;
      pa = pb;
      gb = g;
      pb = p;
    }
    boolean odd = (vb / LANES & 1) != 0; // after an odd count the even vectors' sums (g0, p0) are in (gb, pb)
    FloatVector g0 = odd ? gb : ga, g1 = odd ? ga : gb, p0 = odd ? pb : pa, p1 = odd ? pa : pb;
    return PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
  }

  /** {@link #backwardLanesSliced} at absolute offsets: the same operations in the same order. */
  private static long backwardLanesWide(MemorySegment x, long xo, MemorySegment dy, long go, int features, float[] gamma, float m, float s,
                                        float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    // (ga, pa) takes the next vector, then the pairs swap: (ga, pa) is always the array code's g0/p0 before
    // an even vector and its g1/p1 before an odd one, two independent chains as in the pair loop.
    FloatVector ga = FloatVector.zero(SPECIES), gb = ga, pa = ga, pb = ga;
    for (int f = 0; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, dy, go + o, LE);
      FloatVector d = FloatVector.fromMemorySegment(SPECIES, x, xo + o, LE).sub(vm);
      PanamaLayerNormSupport.accumulateGradients(dGamma, dBeta, f, t, d, vs);
      if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector g = ga.add(t), p = t.fma(d, pa);
      ga = gb;
      pa = pb;
      gb = g;
      pb = p;
    }
    boolean odd = (vb / LANES & 1) != 0; // after an odd count the even vectors' sums (g0, p0) are in (gb, pb)
    FloatVector g0 = odd ? gb : ga, g1 = odd ? ga : gb, p0 = odd ? pb : pa, p1 = odd ? pa : pb;
    return PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
  }

  /** {@link #backwardRowSliced} or, for rows of at least {@link #WIDE} floats, {@link #backwardRowWide}. */
  private static void backwardRow(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo, int features,
                                  float[] gamma, float m, float s, float b, float k) {
    if (features >= WIDE) backwardRowWide(x, xo, dy, go, dx, dxo, features, gamma, m, s, b, k);
    else backwardRowSliced(x, xo, dy, go, dx, dxo, features, gamma, m, s, b, k);
  }

  /** dx = (x - m) * b + (g * s + k) over a row. */
  private static void backwardRowSliced(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo, int features,
                                        float[] gamma, float m, float s, float b, float k) {
    int vb = SPECIES.loopBound(features), f = 0;
    long rowBytes = 4L * features;
    MemorySegment xq = x.asSlice(xo, rowBytes), gq = dy.asSlice(go, rowBytes), dq = dx.asSlice(dxo, rowBytes);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vbv = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector g = FloatVector.fromMemorySegment(SPECIES, gq, o, LE);
      if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector d = FloatVector.fromMemorySegment(SPECIES, xq, o, LE).sub(vm);
      d.fma(vbv, g.fma(vs, vk)).intoMemorySegment(dq, o, LE);
    }
    for (; f < features; f++) {
      long o = 4L * f;
      float d = xq.get(F, o) - m, t = gq.get(F, o);
      float g = gamma == null ? t : t * gamma[f];
      dq.set(F, o, Math.fma(d, b, Math.fma(g, s, k)));
    }
  }

  /** {@link #backwardRowSliced} at absolute offsets: the same operations in the same order. */
  private static void backwardRowWide(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo, int features,
                                      float[] gamma, float m, float s, float b, float k) {
    int vb = SPECIES.loopBound(features), f = 0;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
    FloatVector vbv = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, go + o, LE);
      if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector d = FloatVector.fromMemorySegment(SPECIES, x, xo + o, LE).sub(vm);
      d.fma(vbv, g.fma(vs, vk)).intoMemorySegment(dx, dxo + o, LE);
    }
    for (; f < features; f++) {
      long o = 4L * f;
      float d = x.get(F, xo + o) - m, t = dy.get(F, go + o);
      float g = gamma == null ? t : t * gamma[f];
      dx.set(F, dxo + o, Math.fma(d, b, Math.fma(g, s, k)));
    }
  }

  // ---------------------------------------------------------------- RMS norm

  /** {@link PanamaLayerNormSupport#rmsForward} with byte offsets. */
  static void rmsForward(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int features, float[] gamma,
                         float epsilon, float[] invRms, int statsOffset) {
    float[] g = PanamaLayerNormSupport.ones(gamma, features);
    try {
      // Rows under 8 vectors staged through the array rows-apart form, as forwardStaged. NatVsArr, ns a row, native before
      // / staged (float[] staged): 4096x17 21.1 / 17.1 (15.4), 16384x32 20.1 / 18.8 (16.4), 4096x24 28.1 / 20.8 (18.2),
      // 2048x31 41.2 / 23.9 (20.6), but 8192x64 24.8 / 28.6 (22.5): the copies cost more than the row loop there.
      if (PanamaLayerNormSupport.rowsApartBlock(features) > 1) {
        forwardStaged(x, xOffset, y, yOffset, rows, features, g, null, epsilon, null, invRms, statsOffset, true);
        return;
      }
      long rowBytes = 4L * features;
      MemorySegment discard = discard(rowBytes); // the first two rows summed by scaleRow itself, as in forward
      float s = PanamaLayerNormSupport.invRms(scaleRow(x, xOffset, discard, 0, features, g, 1f, xOffset), features, epsilon);
      float following = rows > 1
          ? PanamaLayerNormSupport.invRms(scaleRow(x, xOffset, discard, 0, features, g, 1f, xOffset + rowBytes), features, epsilon) : 0;
      for (int r = 0; r < rows; r++) {
        long xo = xOffset + r * rowBytes;
        if (invRms != null) invRms[statsOffset + r] = s;
        boolean more = r + 2 < rows;
        long ahead = xo + 2 * rowBytes;
        float squares = scaleRow(x, xo, y, yOffset + r * rowBytes, features, g, s, more ? ahead : xo);
        s = following;
        if (more) following = PanamaLayerNormSupport.invRms(squares, features, epsilon);
      }
    } finally {
      PanamaLayerNormSupport.release(gamma, g);
    }
  }

  /** {@link #scaleRowSliced} or, for rows of at least {@link #WIDE} floats, {@link #scaleRowWide}. */
  private static float scaleRow(MemorySegment x, long xo, MemorySegment y, long yo, int width, float[] gamma, float s,
                                long next) {
    return width >= WIDE ? scaleRowWide(x, xo, y, yo, width, gamma, s, next) : scaleRowSliced(x, xo, y, yo, width, gamma, s, next);
  }

  /** {@link PanamaLayerNormSupport#scaleRow} with byte offsets. */
  private static float scaleRowSliced(MemorySegment x, long xo, MemorySegment y, long yo, int width, float[] gamma, float s, long next) {
    long rowBytes = 4L * width;
    MemorySegment xq = x.asSlice(xo, rowBytes), nq = x.asSlice(next, rowBytes), yq = y.asSlice(yo, rowBytes);
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector q0 = FloatVector.zero(SPECIES), q1 = q0;
    int f = 0, vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, nq, o0, LE), v1 = FloatVector.fromMemorySegment(SPECIES, nq, o1, LE);
      q0 = v0.fma(v0, q0);
      q1 = v1.fma(v1, q1);
      FloatVector.fromMemorySegment(SPECIES, xq, o0, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f))
          .intoMemorySegment(yq, o0, LE);
      FloatVector.fromMemorySegment(SPECIES, xq, o1, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f + LANES))
          .intoMemorySegment(yq, o1, LE);
    }
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector v = FloatVector.fromMemorySegment(SPECIES, nq, o, LE);
      q0 = v.fma(v, q0);
      FloatVector.fromMemorySegment(SPECIES, xq, o, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f))
          .intoMemorySegment(yq, o, LE);
    }
    float sq = 0;
    for (; f < width; f++) { // scalar tail
      long o = 4L * f;
      float v = nq.get(F, o);
      sq = Math.fma(v, v, sq);
      yq.set(F, o, xq.get(F, o) * s * gamma[f]);
    }
    return sq + PanamaBatchNormSupport.sumLanes(q0.add(q1));
  }

  /** {@link #scaleRowSliced} at absolute offsets: the same operations in the same order. */
  private static float scaleRowWide(MemorySegment x, long xo, MemorySegment y, long yo, int width, float[] gamma, float s, long next) {
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector q0 = FloatVector.zero(SPECIES), q1 = q0;
    int f = 0, vb = SPECIES.loopBound(width), bound2 = width - width % (2 * LANES);
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, x, next + o0, LE), v1 = FloatVector.fromMemorySegment(SPECIES, x, next + o1, LE);
      q0 = v0.fma(v0, q0);
      q1 = v1.fma(v1, q1);
      FloatVector.fromMemorySegment(SPECIES, x, xo + o0, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f))
          .intoMemorySegment(y, yo + o0, LE);
      FloatVector.fromMemorySegment(SPECIES, x, xo + o1, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f + LANES))
          .intoMemorySegment(y, yo + o1, LE);
    }
    for (; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector v = FloatVector.fromMemorySegment(SPECIES, x, next + o, LE);
      q0 = v.fma(v, q0);
      FloatVector.fromMemorySegment(SPECIES, x, xo + o, LE).mul(vs).mul(FloatVector.fromArray(SPECIES, gamma, f))
          .intoMemorySegment(y, yo + o, LE);
    }
    float sq = 0;
    for (; f < width; f++) { // scalar tail
      long o = 4L * f;
      float v = x.get(F, next + o);
      sq = Math.fma(v, v, sq);
      y.set(F, yo + o, x.get(F, xo + o) * s * gamma[f]);
    }
    return sq + PanamaBatchNormSupport.sumLanes(q0.add(q1));
  }

  /** {@link PanamaLayerNormSupport#rmsBackward} with byte offsets. */
  static void rmsBackward(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset, int rows,
                          int features, float[] gamma, float[] invRms, int statsOffset, float[] dGamma) {
    long rowBytes = 4L * features;
    for (int r = 0; r < rows; r++) {
      long at = r * rowBytes;
      rmsBackwardRow(x, xOffset + at, dy, dyOffset + at, dx, dxOffset + at, features, gamma, invRms[statsOffset + r], dGamma);
    }
  }

  /** {@link #rmsBackwardRowSliced} or, for rows of at least {@link #WIDE} floats, {@link #rmsBackwardRowWide}. */
  private static void rmsBackwardRow(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo,
                                     int features, float[] gamma, float s, float[] dGamma) {
    if (features >= WIDE) rmsBackwardRowWide(x, xo, dy, go, dx, dxo, features, gamma, s, dGamma);
    else rmsBackwardRowSliced(x, xo, dy, go, dx, dxo, features, gamma, s, dGamma);
  }

  /**
   * One row of {@link #rmsBackward}. Its dGamma/gamma step is written out here, in the wide copy and in the array
   * kernel, not shared: as a helper returning the vector (tried in the twenty-sixth session's review) C2 boxed it after
   * the long kernel mix (KernelMixAllocationTest: RMS_BACK_SEG 64x768, 33x1000, 16x17 allocated 950-1843 KB in 300 calls).
   */
  private static void rmsBackwardRowSliced(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo, int features,
                                           float[] gamma, float s, float[] dGamma) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES);
    long rowBytes = 4L * features;
    MemorySegment xq = x.asSlice(xo, rowBytes), gq = dy.asSlice(go, rowBytes), dq = dx.asSlice(dxo, rowBytes);
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector p0 = FloatVector.zero(SPECIES), p1 = FloatVector.zero(SPECIES);
    int f = 0;
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector t0 = FloatVector.fromMemorySegment(SPECIES, gq, o0, LE), t1 = FloatVector.fromMemorySegment(SPECIES, gq, o1, LE);
      FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, xq, o0, LE), v1 = FloatVector.fromMemorySegment(SPECIES, xq, o1, LE);
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
      long o = 4L * f;
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, gq, o, LE), v = FloatVector.fromMemorySegment(SPECIES, xq, o, LE);
      if (dGamma != null) t.fma(v.mul(vs), FloatVector.fromArray(SPECIES, dGamma, f)).intoArray(dGamma, f);
      if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
      p0 = t.fma(v, p0);
    }
    float sumGx = PanamaBatchNormSupport.sumLanes(p0.add(p1));
    for (; f < features; f++) {
      long o = 4L * f;
      float v = xq.get(F, o), t = gq.get(F, o);
      if (dGamma != null) dGamma[f] += t * (v * s);
      float g = gamma == null ? t : t * gamma[f];
      sumGx = Math.fma(g, v, sumGx);
    }
    float k = (float) (-(double) s * s * s * sumGx / features);
    FloatVector vk = FloatVector.broadcast(SPECIES, k);
    for (f = 0; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector g = FloatVector.fromMemorySegment(SPECIES, gq, o, LE);
      if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector.fromMemorySegment(SPECIES, xq, o, LE).fma(vk, g.mul(vs)).intoMemorySegment(dq, o, LE);
    }
    for (; f < features; f++) {
      long o = 4L * f;
      float t = gq.get(F, o);
      float g = gamma == null ? t : t * gamma[f];
      dq.set(F, o, Math.fma(xq.get(F, o), k, g * s));
    }
  }

  /** {@link #rmsBackwardRowSliced} at absolute offsets: the same operations in the same order. */
  private static void rmsBackwardRowWide(MemorySegment x, long xo, MemorySegment dy, long go, MemorySegment dx, long dxo, int features,
                                         float[] gamma, float s, float[] dGamma) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES);
    FloatVector vs = FloatVector.broadcast(SPECIES, s);
    FloatVector p0 = FloatVector.zero(SPECIES), p1 = FloatVector.zero(SPECIES);
    int f = 0;
    for (; f < bound2; f += 2 * LANES) {
      long o0 = 4L * f, o1 = 4L * (f + LANES);
      FloatVector t0 = FloatVector.fromMemorySegment(SPECIES, dy, go + o0, LE), t1 = FloatVector.fromMemorySegment(SPECIES, dy, go + o1, LE);
      FloatVector v0 = FloatVector.fromMemorySegment(SPECIES, x, xo + o0, LE), v1 = FloatVector.fromMemorySegment(SPECIES, x, xo + o1, LE);
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
      long o = 4L * f;
      FloatVector t = FloatVector.fromMemorySegment(SPECIES, dy, go + o, LE), v = FloatVector.fromMemorySegment(SPECIES, x, xo + o, LE);
      if (dGamma != null) t.fma(v.mul(vs), FloatVector.fromArray(SPECIES, dGamma, f)).intoArray(dGamma, f);
      if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
      p0 = t.fma(v, p0);
    }
    float sumGx = PanamaBatchNormSupport.sumLanes(p0.add(p1));
    for (; f < features; f++) {
      long o = 4L * f;
      float v = x.get(F, xo + o), t = dy.get(F, go + o);
      if (dGamma != null) dGamma[f] += t * (v * s);
      float g = gamma == null ? t : t * gamma[f];
      sumGx = Math.fma(g, v, sumGx);
    }
    float k = (float) (-(double) s * s * s * sumGx / features);
    FloatVector vk = FloatVector.broadcast(SPECIES, k);
    for (f = 0; f < vb; f += LANES) {
      long o = 4L * f;
      FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, go + o, LE);
      if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector.fromMemorySegment(SPECIES, x, xo + o, LE).fma(vk, g.mul(vs)).intoMemorySegment(dx, dxo + o, LE);
    }
    for (; f < features; f++) {
      long o = 4L * f;
      float t = dy.get(F, go + o);
      float g = gamma == null ? t : t * gamma[f];
      dx.set(F, dxo + o, Math.fma(x.get(F, xo + o), k, g * s));
    }
  }

}
