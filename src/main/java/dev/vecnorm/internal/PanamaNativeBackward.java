package dev.vecnorm.internal;

import static dev.vecnorm.internal.PanamaBatchNormSupport.APPLY_BLOCK;
import static dev.vecnorm.internal.PanamaBatchNormSupport.INTERLEAVED_MIN_WIDTH;
import static dev.vecnorm.internal.PanamaBatchNormSupport.ROWS_APPLY_BLOCK;
import static dev.vecnorm.internal.PanamaBatchNormSupport.registerStride;
import static dev.vecnorm.internal.PanamaBatchNormSupport.scratchSlot;
import static dev.vecnorm.internal.BatchNormSupport.FUSED_MIN_INNER;
import static dev.vecnorm.internal.PanamaBatchNormSupport.sumLanes;
import static dev.vecnorm.internal.PanamaBatchNormSupport.superWidth;
import static dev.vecnorm.internal.PanamaBatchNormSupport.tilePattern;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The backward kernels of {@link PanamaBatchNormSupport} straight on native memory: the reduce
 * ({@code sum dy}, {@code sum dy*(x - mean)}), the apply ({@code dx = a*dy + b*(x - mean) + k}) and the
 * per-channel fused NCHW backward, each a second body of the array kernel with byte offsets. Staging
 * native memory through arrays copied x and dy in and dx out, 1.3-2.1x the {@code float[]} time.
 *
 * <p>Why a second body and not one kernel on segments: only plain native segments ever reach these
 * loops ({@code float[]} segments run on their arrays, other kinds are staged), so C2's type profile of
 * the segment accesses stays monomorphic; a loop that had also seen heap segments ran 1.6x slower
 * (README, "How the kernels work": "Why a second body and not one kernel over segments").
 * Every loop does the array kernel's arithmetic in the array kernel's order (same accumulators, same
 * lane-sum tree, same scalar tails), so results are the same bits as on {@code float[]}
 * ({@code NativeBackwardTest}). Segments and offsets are loop-invariant and offsets {@code long}.
 *
 * <p>What is left of the cost: each segment access keeps its bounds check (JDK 25's C2 did not remove
 * them from these loops). On NHWC 64x56x56x64 the reduce took 1.1-1.3x the array reduce, and 0.7x
 * with {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0} (a probe timing the two bodies, thread CPU
 * time, AVX-512); copying L1-sized chunks into arrays for the array body instead was slower still.
 * The fused channels-first backward on short planes is the same story: with that property the whole
 * backward on NCHW 7x13x13x17 and 32x14x14x256 is 1.01-1.04x the {@code float[]} time, against 1.42-1.57x
 * and 1.25-1.41x without it (two rounds each, {@code SegmentCheck ratio}, load 2.6-3.0). Tried on those
 * shapes and dropped, no better or slower than one plane per loop (same command, 3-4 rounds each, load 1.6-13):
 * two planes per reduce loop (2.25-2.49x on 7x13x13x17 in five of six rounds), two planes per apply loop,
 * the apply walked vector position by vector position with one loop over the planes (1.40-1.54x on
 * 32x14x14x256 against 1.20-1.24x), one apply loop without the block nest, and long induction variables.
 *
 * <p>Short planes in memory order (session 15, seg15c). Planes of {@link PanamaNativeShortPlanes#ownLoops} length
 * (160-511 floats at 16 lanes, from {@code FUSED_MIN_INNER}) no longer take the fused channel-by-channel walk (the array
 * kernel's): {@link #backward} reduces the whole tensor in memory order ({@link #reduceChannelsFirst}) and then applies
 * it in memory order ({@link #applyChannelsFirst}), as it already did below {@code FUSED_MIN_INNER}. The same plane
 * sums added in the same order per channel and the same folded coefficients, so the same bits. The channel walk jumps
 * a slab between planes of a few hundred floats; memory order streams, and fewer of those jumps beat the bounds
 * checks the channel walk paid per plane. {@code SegmentCheck ratio}, segment/{@code float[]}, main then this, three
 * alternating runs each (AMD EPYC, 16 lanes): NCHW 32x14x14x256 1.17-1.23 to 0.64-0.73 (segment 2.06-2.24 to
 * 1.05-1.19 ms), 7x13x13x17 0.99-1.03 to 0.74-0.77; beyond L3 (x and dy 51 MB) NCHW 128x14x14x256 1.19-1.21 to
 * 0.83-0.90, 64x20x20x128 1.14-1.17 to 0.55-0.66, 256x13x13x64 1.31-1.34 to 0.98-1.05 (two runs each). Tried first and
 * dropped (the channel walk kept): no slices, offsets from one base (32x14x14x256 1.13-1.16 against 1.10-1.18);
 * each plane copied into a pooled {@code float[]} (MemorySegment.copy) for the array reduce loop (1.11-1.17,
 * 7x13x13x17 1.28-1.34), and with the apply reading the channel's copies (1.17-1.27, 7x13x13x17 1.37-1.41); counted
 * loops (1.23); the reduce written out four vectors a step and the apply two (1.15-1.18, 7x13x13x17 1.99-2.03).
 *
 * <p>Session 16 (segb16): the route is the array kernel's ({@code PanamaBatchNormSupport.memoryOrder}, cf16) instead of
 * {@code ownLoops}: planes of 320-511 floats with fewer than 8 samples now walk channels as {@code float[]} does, and
 * planes of 512-2559 floats in tensors of 5 MiB+ (8 MiB+ with fewer than 8 samples) go in memory order. The memory-order
 * reduce and apply take one slice per sample (a sample's planes are contiguous) instead of one per plane. With
 * {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0} NCHW 32x14x14x256 went from 1.77 to 1.15 segment/float[]
 * (one JVM each, load ~2): the per-vector bounds checks of the non-counted loops are most of the gap left; counted
 * loops on the per-sample slices ran no better (1.41-1.49 against 1.03-1.34).
 *
 * <p>The one case left to staging: wide channels-last rows with a ragged channel tail
 * ({@code superWidth < 0}) narrower than four vectors, which the array kernel walks in register tiles;
 * {@code superWidth} never returns -1 there for lane counts up to 16.
 */
final class PanamaNativeBackward {
  private PanamaNativeBackward() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

  /** False (nothing written) for the shapes these kernels leave to staging. */
  static boolean supported(int channels, int inner) {
    return inner > 1 || superWidth(channels) >= 0 || channels >= 4 * LANES;
  }

  // ---------------------------------------------------------------- whole backward

  /** {@link BatchNormSupport#backward} on native memory (offsets in bytes); false when not {@link #supported}. */
  static boolean backward(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                          int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                          float[] sumDyXhat, double count) {
    if (!supported(channels, inner)) return false;
    // The array kernel's route (PanamaBatchNormSupport.memoryOrder, session 16): the same walk, so the same bits and the
    // same cache behaviour; see the class javadoc, "Short planes in memory order".
    if (inner < FUSED_MIN_INNER || PanamaBatchNormSupport.memoryOrder(outer, channels, inner)) { // the array kernel's route
      reduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
      apply(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
      return true;
    }
    // Channel by channel: the apply re-reads the channel's planes from L2 (see PanamaBatchNormSupport.backward).
    float[] t = Scratch.borrow(4 * LANES);
    try {
      // Planes of one apply block: pipelined where the array kernel pipelines them (PanamaBatchNormSupport.PIPELINE; short
      // planes took the memory-order branch above).
      if (PanamaBatchNormSupport.PIPELINE && inner <= APPLY_BLOCK) {
        pipelined(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count, t);
        return true;
      }
      for (int c = 0; c < channels; c++) {
        for (int o = 0; o < outer; o++) reducePlane(x, xOffset, dy, dyOffset, o, channels, inner, c, mean, sumDy, sumDyXhat, t);
        sumDyXhat[c] *= invStd[c];
        applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat, count);
      }
    } finally {
      Scratch.release(t);
    }
    return true;
  }

  /**
   * {@code PanamaBatchNormSupport.pipelined} on native memory: channel c's reduce shares its loop with channel c - 1's
   * apply, plane by plane (plane (o, c) reduced as in {@link #reducePlane}, plane (outer - 1 - o, c - 1) applied as in
   * {@link #applyPlanes}, last reduced first applied), so the reduce streams x and dy from memory while the apply
   * re-reads the previous channel from L1/L2 and writes dx. Before, the native backward ran each channel's reduce and
   * apply as two phases, where the array kernel has pipelined them since the twelfth session: that was the
   * consistent channels-first backward miss (NCHW 8x3x224x224, 32x14x14x256, 64x56x56x64 at 1.05-1.27x the
   * {@code float[]} time, with or without {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0}). Same operations in
   * the same order per channel, so the same bits.
   */
  static void pipelined(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                        int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                        float[] sumDyXhat, double count, float[] t) {
    for (int o = 0; o < outer; o++) reducePlane(x, xOffset, dy, dyOffset, o, channels, inner, 0, mean, sumDy, sumDyXhat, t);
    sumDyXhat[0] *= invStd[0];
    for (int c = 1; c < channels; c++) {
      int p = c - 1;
      float a = Coefficients.backwardA(invStd, gamma, p);
      float b = Coefficients.backwardB(a, invStd, sumDyXhat, count, p), k = Coefficients.backwardK(a, sumDy, count, p);
      for (int o = 0; o < outer; o++) {
        reduceApplyPlane(x, xOffset, dy, dyOffset, dx, dxOffset, channels, inner, o, c, outer - 1 - o, mean, sumDy, sumDyXhat, a, b, k, t);
      }
      sumDyXhat[c] *= invStd[c];
    }
    applyPlanes(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, channels - 1, mean, invStd, gamma, sumDy, sumDyXhat,
        count);
  }

  /**
   * {@code PanamaBatchNormSupport.reduceApplyPlane} on native memory: the reduce of plane (o, c) and the apply of plane
   * (q, c - 1) with coefficients a, b, k in one loop ({@link #reduceApplyLoop}, each plane through its own slices from
   * offset 0, as {@link #reducePlane}); the vector loop exits on equality ({@link #reducePlane} says why). The reduce's ragged tail
   * comes from a copy of its last vector in {@code t} (as {@link #reducePlane}), the apply's ragged end is scalar (the
   * same FMAs as the array kernel's {@code applyStrided}). Same values in the same order, so the same bits.
   */
  private static void reduceApplyPlane(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                       long dxOffset, int channels, int inner, int o, int c, int q, float[] mean, float[] sumDy,
                                       float[] sumDyXhat, float a, float b, float k, float[] t) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    long planeBytes = 4L * inner;
    long plane = planeBytes * ((long) o * channels + c), applied = planeBytes * ((long) q * channels + c - 1);
    boolean vectorTail = vectorBound != inner; // inner >= FUSED_MIN_INNER > LANES here
    if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
      long tail = 4L * (inner - LANES);
      FloatVector.fromMemorySegment(SPECIES, dy, dyOffset + plane + tail, LE).intoArray(t, 0);
      FloatVector.fromMemorySegment(SPECIES, x, xOffset + plane + tail, LE).intoArray(t, LANES);
    }
    int i = reduceApplyLoop(x, xOffset, dy, dyOffset, dx, dxOffset, plane, applied, planeBytes, upperBound, vectorBound, mean[c],
        mean[c - 1], a, b, k, t);
    float pm = mean[c - 1];
    for (int j = vectorBound; j < inner; j++) { // the apply's ragged end, scalar (applyStrided's FMAs)
      long e = applied + 4L * j;
      dx.set(FLOAT_LE, dxOffset + e, Math.fma(dy.get(FLOAT_LE, dyOffset + e), a, Math.fma(x.get(FLOAT_LE, xOffset + e) - pm, b, k)));
    }
    float sDy = sumLanes(FloatVector.fromArray(SPECIES, t, 2 * LANES)), sDyX = sumLanes(FloatVector.fromArray(SPECIES, t, 3 * LANES));
    int shift = LANES - inner; // scratch index of element i of the tail vector: i + shift
    for (; i < inner; i++) { // scalar tail, from scratch
      float g = t[i + shift];
      sDy += g;
      sDyX = Math.fma(g, t[LANES + i + shift] - mean[c], sDyX);
    }
    PanamaBatchNormSupport.addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
  }

  /**
   * The vector loop of {@link #reduceApplyPlane}, a method of its own that leaves the reduce's accumulators
   * ({@code g0 + g1}, {@code h0 + h1}) at {@code t[2 * LANES]} and {@code t[3 * LANES]} and returns the index it stopped
   * at: with the lane sums and tails in the same body, C2 allocated per plane (96 B a plane, 783 KB a call on
   * NCHW 32x14x14x256), as in PanamaNativeMoments.planePair.
   */
  private static int reduceApplyLoop(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                     long plane, long applied, long planeBytes, int upperBound, int vectorBound, float mean,
                                     float appliedMean, float a, float b, float k, float[] t) {
    // The slices are made here, in the loop's own method, so they are scalar-replaced (passed in, they were allocated).
    MemorySegment xq = x.asSlice(xOffset + plane, planeBytes), gq = dy.asSlice(dyOffset + plane, planeBytes);
    MemorySegment xa = x.asSlice(xOffset + applied, planeBytes), ga = dy.asSlice(dyOffset + applied, planeBytes);
    MemorySegment da = dx.asSlice(dxOffset + applied, planeBytes);
    FloatVector m = FloatVector.broadcast(SPECIES, mean), am = FloatVector.broadcast(SPECIES, appliedMean);
    FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
    FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int i = 0;
    for (; i != upperBound; i += 2 * LANES) {
      long e = 4L * i, f = e + 4L * LANES;
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gq, e, LE), dy1 = FloatVector.fromMemorySegment(SPECIES, gq, f, LE);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xq, e, LE).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromMemorySegment(SPECIES, xq, f, LE).sub(m), h1);
      FloatVector.fromMemorySegment(SPECIES, ga, e, LE).fma(va, FloatVector.fromMemorySegment(SPECIES, xa, e, LE).sub(am).fma(vb, vk))
          .intoMemorySegment(da, e, LE);
      FloatVector.fromMemorySegment(SPECIES, ga, f, LE).fma(va, FloatVector.fromMemorySegment(SPECIES, xa, f, LE).sub(am).fma(vb, vk))
          .intoMemorySegment(da, f, LE);
    }
    if (i != vectorBound) { // at most one vector: upperBound steps by two
      long e = 4L * i;
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gq, e, LE);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xq, e, LE).sub(m), h0);
      FloatVector.fromMemorySegment(SPECIES, ga, e, LE).fma(va, FloatVector.fromMemorySegment(SPECIES, xa, e, LE).sub(am).fma(vb, vk))
          .intoMemorySegment(da, e, LE);
      i += LANES;
    }
    g0.add(g1).intoArray(t, 2 * LANES);
    h0.add(h1).intoArray(t, 3 * LANES);
    return i;
  }

  // ---------------------------------------------------------------- reduce

  /** {@link BatchNormSupport#backwardReduce} on native memory; false when not {@link #supported}. */
  static boolean reduce(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels, int inner,
                        float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
    return reduce(x, xOffset, dy, dyOffset, outer, channels, inner, mean, invStd, sumDy, sumDyXhat, (long) outer * channels * inner);
  }

  /**
   * {@link #reduce} of a part of a tensor of {@code tensorFloats} floats: channels-last super rows read in row order
   * ({@link #reduceRowOrder}) when the whole tensor has {@code PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS} or more, as
   * the array kernel's chunks; the same bits.
   */
  static boolean reduce(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels, int inner,
                        float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat, long tensorFloats) {
    if (!supported(channels, inner)) return false;
    if (inner == 1) {
      reduceChannelsLast(x, xOffset, dy, dyOffset, outer, channels, mean, sumDy, sumDyXhat,
          tensorFloats >= PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS);
    } else {
      reduceChannelsFirst(x, xOffset, dy, dyOffset, outer, channels, inner, mean, sumDy, sumDyXhat);
    }
    for (int c = 0; c < channels; c++) sumDyXhat[c] *= invStd[c]; // elementwise: the same bits as the array kernel's vector form
    return true;
  }

  private static void reduceChannelsLast(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer,
                                         int channels, float[] mean, float[] sumDy, float[] sumDyXhat, boolean rowOrder) {
    int width = superWidth(channels);
    if (width < 0) {
      reduceRows(x, xOffset, dy, dyOffset, outer, channels, mean, sumDy, sumDyXhat);
      return;
    }
    int slot = scratchSlot(width);
    float[] s = Scratch.borrow(4 * slot + 2 * LANES);
    try {
      int used = PanamaBatchNormSupport.reduceScratch(s, mean, channels, width, slot, (long) outer * channels);
      reduceSuperRows(x, xOffset, dy, dyOffset, (long) outer * channels, width, s, slot, rowOrder);
      PanamaBatchNormSupport.foldReduce(s, slot, channels, width, used, sumDy, sumDyXhat); // the array kernel's order
    } finally {
      Scratch.release(s);
    }
  }

  /**
   * {@code PanamaBatchNormSupport.reduceSuperRows} on native memory: {@code total} floats, scratch
   * {@code [mean | sumDy | sumDyXmu | t | 2 * LANES]}, {@code slot} floats apart ({@code scratchSlot}; {@code t} for
   * {@link #reduceRowOrder}). Steps of four super rows with the four rows' vectors of a position together
   * ({@link #reduceFourRows}, {@link #reduceInterleaved}), or one row after the other when {@code rowOrder} (tensors of
   * {@code PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS} and more, {@link #reduceRowOrder}); the array kernel's operations
   * per position in its order: the same bits.
   * The scalar tail (under a vector of floats at the tensor's end) is read from one vector of dy and one of x ending at
   * the tensor's end, copied to the scratch's last {@code 2 * LANES} floats, not by a checked {@code get} per float.
   */
  private static void reduceSuperRows(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, long total, int width,
                                      float[] s, int slot, boolean rowOrder) {
    int sum = slot, h = 2 * slot;
    int t = 4 * slot; // the tail vectors: dy at t, x at t + LANES
    boolean vectorTail = total % LANES != 0 && total >= LANES;
    if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
      FloatVector.fromMemorySegment(SPECIES, dy, dyOffset + 4 * (total - LANES), LE).intoArray(s, t);
      FloatVector.fromMemorySegment(SPECIES, x, xOffset + 4 * (total - LANES), LE).intoArray(s, t + LANES);
    }
    // Each walk in its own method. With both walks and the tail in one body, the native backward ran 2-34x slower than
    // float[] in a JVM that had first run the other kernels (SegmentCheck ratio, the ten suite shapes, all four ops:
    // NHWC:7x13x13x17 288.7 against 8.6 us, NC:8192x256 2171 against 1184), and at float[] speed when run alone: the
    // signature of C2 running out of inlining budget and boxing vectors, seen before in these classes. Split: 1.01, 1.04.
    long i = width >= WIDE_ROW ? reduceInterleavedWide(x, xOffset, dy, dyOffset, total, width, s, slot)
        : width >= INTERLEAVED_MIN_WIDTH ? reduceInterleaved(x, xOffset, dy, dyOffset, total, width, s, slot)
        : rowOrder ? reduceRowOrder(x, xOffset, dy, dyOffset, total, width, s, slot)
        : reduceFourRows(x, xOffset, dy, dyOffset, total, width, s, slot);
    // The last super rows, then the floats that do not fill one (the pattern continues), a vector at a time.
    long vectorBound = total - total % LANES;
    int j = 0;
    for (; i < vectorBound; i += LANES, j = j + LANES == width ? 0 : j + LANES) {
      int a = PanamaBatchNormSupport.accumulatorIndex(j, width);
      FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, dyOffset + 4 * i, LE);
      FloatVector.fromArray(SPECIES, s, sum + a).add(g).intoArray(s, sum + a);
      g.fma(FloatVector.fromMemorySegment(SPECIES, x, xOffset + 4 * i, LE).sub(FloatVector.fromArray(SPECIES, s, j)),
          FloatVector.fromArray(SPECIES, s, h + a)).intoArray(s, h + a);
    }
    if (vectorTail) {
      for (int k = t + LANES - (int) (total - i); i < total; i++, j++, k++) { // scalar tail, from scratch
        int a = PanamaBatchNormSupport.accumulatorIndex(j, width);
        float g = s[k];
        s[sum + a] += g;
        s[h + a] = Math.fma(g, s[k + LANES] - s[j], s[h + a]);
      }
    }
    for (; i < total; i++, j++) { // scalar tail (a tensor shorter than a vector)
      int a = PanamaBatchNormSupport.accumulatorIndex(j, width);
      float g = dy.get(FLOAT_LE, dyOffset + 4 * i);
      s[sum + a] += g;
      s[h + a] = Math.fma(g, x.get(FLOAT_LE, xOffset + 4 * i) - s[j], s[h + a]);
    }
  }

  /** The whole four-super-row steps with the four rows' vectors of a position together (wide super rows); returns the floats done. */
  private static long reduceInterleaved(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, long total, int width,
                                        float[] s, int slot) {
    long w = 4L * width, i = 0;
    // sumDy and sumDyXmu in reverse position order, as the array kernel's (PanamaBatchNormSupport.accumulatorIndex).
    int o = width - LANES, sum = slot + o, h = 2 * slot + o;
    for (; i + 4L * width <= total; i += 4L * width) {
      // The four super rows as their own slices, addressed from 0, as the channels-first planes
      // (PanamaBatchNormSupport.normalizeChannelsFirstNative): the inner loop (width / LANES steps) is entered once
      // per four super rows, and its segment checks are then against the slice's size.
      MemorySegment xq = x.asSlice(xOffset + 4 * i, 4 * w), gq = dy.asSlice(dyOffset + 4 * i, 4 * w);
      for (int j = 0; j < width; j += LANES) {
        long p = 4L * j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, gq, p, LE), g1 = FloatVector.fromMemorySegment(SPECIES, gq, p + w, LE);
        FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, gq, p + 2 * w, LE);
        FloatVector g3 = FloatVector.fromMemorySegment(SPECIES, gq, p + 3 * w, LE);
        FloatVector.fromArray(SPECIES, s, sum - j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum - j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, h - j);
        hj = g0.fma(FloatVector.fromMemorySegment(SPECIES, xq, p, LE).sub(m), hj);
        hj = g1.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + w, LE).sub(m), hj);
        hj = g2.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + 2 * w, LE).sub(m), hj);
        g3.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + 3 * w, LE).sub(m), hj).intoArray(s, h - j);
      }
    }
    return i;
  }

  /**
   * {@link #reduceInterleaved} at absolute offsets, for super rows of {@link #WIDE_ROW} floats and more: the same
   * operations in the same order, so the same bits. Why (twenty-seventh session): in a program that calls only this
   * backward on native segments, the sliced walk's two slices per four super rows were allocated (jmh's
   * {@code PlainCallProbe bn bwd}, 6000 calls, fresh JVMs: NC 128x4096 2560 B a call in 2 of 2, 64x8192 and 32x10000 2 of
   * 2, 256x2048 1 of 2; 1024x1000, whose super rows are 2000 floats, 0 of 2), C2 refusing the JDK's {@code asSliceNoCheck}
   * for "low call site frequency", as for LayerNorm's wide rows ({@code PanamaNativeLayerNorm.WIDE}, the same 2048).
   * The inner loop exits on {@code !=}: written as {@code j < width}, C2 unrolled it and spilled vectors to the stack
   * (PrintAssembly: {@code vmovdqu64 zmm1, [rsp + 0x630]} between the FMAs), and native/{@code float[]} backward went from
   * 1.03-1.10 to 1.25-1.31 on NC 4096x2048. With {@code !=}, three alternating JVMs each after a warm-up on 256x1024
   * (absolute against sliced): 256x2048 0.97-1.03 against 0.87-1.02, 128x4096 0.98-1.06 against 1.02-1.04, 32x10000
   * 0.98-1.01 against 0.98-1.00, 4096x2048 1.03-1.06 against 1.09-1.12, 1568x2048 (NHWC 32x7x7x2048) 0.95-1.10 against
   * 1.05-1.12.
   */
  private static long reduceInterleavedWide(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, long total, int width,
                                            float[] s, int slot) {
    long w = 4L * width, i = 0;
    // sumDy and sumDyXmu in reverse position order, as the array kernel's (PanamaBatchNormSupport.accumulatorIndex).
    int o = width - LANES, sum = slot + o, h = 2 * slot + o;
    for (; i + 4L * width <= total; i += 4L * width) {
      long xb = xOffset + 4 * i, gb = dyOffset + 4 * i;
      for (int j = 0; j != width; j += LANES) {
        long p = 4L * j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, dy, gb + p, LE);
        FloatVector g1 = FloatVector.fromMemorySegment(SPECIES, dy, gb + p + w, LE);
        FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, dy, gb + p + 2 * w, LE);
        FloatVector g3 = FloatVector.fromMemorySegment(SPECIES, dy, gb + p + 3 * w, LE);
        FloatVector.fromArray(SPECIES, s, sum - j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum - j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, h - j);
        hj = g0.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + p, LE).sub(m), hj);
        hj = g1.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + p + w, LE).sub(m), hj);
        hj = g2.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + p + 2 * w, LE).sub(m), hj);
        g3.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + p + 3 * w, LE).sub(m), hj).intoArray(s, h - j);
      }
    }
    return i;
  }

  /**
   * {@code PanamaBatchNormSupport.rowOrderSteps} on native memory (calls of {@code ROW_ORDER_MIN_FLOATS} floats and more,
   * super rows narrower than {@code INTERLEAVED_MIN_WIDTH}): the whole four-super-row steps, each row read whole before
   * the next ({@code t = g0}, {@code t += g1}, then {@code sumDy += t + (g2 + g3)} with g2 loaded again, and the FMAs in
   * row order), so the same bits as the four-row walk; returns the floats done. At absolute offsets, as
   * {@link #reduceInterleavedWide}: these calls are few a program, where per-step slices were not always scalar-replaced;
   * the inner loops exit on {@code !=} for the same reason as there.
   */
  private static long reduceRowOrder(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, long total, int width,
                                     float[] s, int slot) {
    long w = 4L * width, i = 0;
    int sum = slot, h = 2 * slot, t = 3 * slot;
    for (; i + 4L * width <= total; i += 4L * width) {
      long x0 = xOffset + 4 * i, g0 = dyOffset + 4 * i;
      for (int j = 0; j != width; j += LANES) { // row 0: t = g0
        long p = 4L * j;
        FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, g0 + p, LE);
        g.intoArray(s, t + j);
        g.fma(FloatVector.fromMemorySegment(SPECIES, x, x0 + p, LE).sub(FloatVector.fromArray(SPECIES, s, j)),
            FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      long x1 = x0 + w, g1 = g0 + w;
      for (int j = 0; j != width; j += LANES) { // row 1: t += g1
        long p = 4L * j;
        FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, g1 + p, LE);
        FloatVector.fromArray(SPECIES, s, t + j).add(g).intoArray(s, t + j);
        g.fma(FloatVector.fromMemorySegment(SPECIES, x, x1 + p, LE).sub(FloatVector.fromArray(SPECIES, s, j)),
            FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      long x2 = x1 + w, g2 = g1 + w;
      for (int j = 0; j != width; j += LANES) { // row 2: sumDyXmu only
        long p = 4L * j;
        FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, g2 + p, LE);
        g.fma(FloatVector.fromMemorySegment(SPECIES, x, x2 + p, LE).sub(FloatVector.fromArray(SPECIES, s, j)),
            FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      long x3 = x2 + w, g3 = g2 + w;
      for (int j = 0; j != width; j += LANES) { // row 3: sumDy += t + (g2 + g3)
        long p = 4L * j;
        FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, g3 + p, LE);
        FloatVector pair = FloatVector.fromMemorySegment(SPECIES, dy, g2 + p, LE).add(g);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(pair)).intoArray(s, sum + j);
        g.fma(FloatVector.fromMemorySegment(SPECIES, x, x3 + p, LE).sub(FloatVector.fromArray(SPECIES, s, j)),
            FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
    }
    return i;
  }

  /**
   * The whole four-super-row steps of super rows narrower than {@code INTERLEAVED_MIN_WIDTH}, the four rows' vectors of a
   * position together, sums in position order; returns the floats done. Per position the array kernel's pair walk's
   * operations in its order ({@code sumDy + ((g0 + g1) + (g2 + g3))}, then the four FMAs in row order), so the same bits;
   * one inner loop a step instead of two, and no {@code t} round trip. The array kernel keeps the pairs (from
   * 16-byte-offset arrays the four-row walk swung 0.86-1.14 with the arrays' placement on L3-sized tensors here); on
   * 64-byte-aligned native memory it was faster everywhere: switched against the pair walk in one JVM (AVX-512 EPYC, Zen
   * 5 class; 21 alternating rounds; bits equal; four rows / pairs), the reduce NC 8192x256 0.90, NHWC 32x14x14x256 0.88,
   * 32x56x56x32 0.76 and 0.78, 64x56x56x64 0.78, 16x56x56x64 0.79, NC 16384x256 0.78, 4096x256 0.85, 1024x256 0.92,
   * 512x256 0.91, 256x512 0.97, 100000x17 0.83, 1000x100 0.99, NHWC 7x13x13x17 0.94; the whole backward 0.89-0.94.
   * {@link #reduceInterleaved} is the same walk with the sums in reverse position order (the wide rows' 4K aliasing); one
   * method for both would put a variable-stride index in the hot loop.
   */
  private static long reduceFourRows(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, long total, int width,
                                     float[] s, int slot) {
    long w = 4L * width, i = 0;
    int sum = slot, h = 2 * slot;
    for (; i + 4L * width <= total; i += 4L * width) {
      MemorySegment xq = x.asSlice(xOffset + 4 * i, 4 * w), gq = dy.asSlice(dyOffset + 4 * i, 4 * w);
      for (int j = 0; j < width; j += LANES) {
        long p = 4L * j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, gq, p, LE), g1 = FloatVector.fromMemorySegment(SPECIES, gq, p + w, LE);
        FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, gq, p + 2 * w, LE);
        FloatVector g3 = FloatVector.fromMemorySegment(SPECIES, gq, p + 3 * w, LE);
        FloatVector.fromArray(SPECIES, s, sum + j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum + j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, h + j);
        hj = g0.fma(FloatVector.fromMemorySegment(SPECIES, xq, p, LE).sub(m), hj);
        hj = g1.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + w, LE).sub(m), hj);
        hj = g2.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + 2 * w, LE).sub(m), hj);
        g3.fma(FloatVector.fromMemorySegment(SPECIES, xq, p + 3 * w, LE).sub(m), hj).intoArray(s, h + j);
      }
    }
    return i;
  }

  /**
   * Wide rows with a ragged channel tail (at least four vectors): accumulated into the L1-resident sums four rows at a
   * time ({@link #reduceFourRows}), then the last rows one by one, as the array kernel: the same bits.
   */
  private static void reduceRows(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer, int channels,
                                 float[] mean, float[] sumDy, float[] sumDyXhat) {
    int vectorBound = SPECIES.loopBound(channels);
    java.util.Arrays.fill(sumDy, 0f);
    java.util.Arrays.fill(sumDyXhat, 0f);
    int four = PanamaBatchNormSupport.fourRows(outer, channels) ? outer - outer % 4 : 0;
    for (int r = 0; r < four; r += 4) {
      long row = 4L * r * channels;
      reduceFourRows(x, xOffset + row, dy, dyOffset + row, channels, mean, sumDy, sumDyXhat);
    }
    for (int r = four; r < outer; r++) {
      long row = 4L * r * channels, xs = xOffset + row, gs = dyOffset + row;
      for (int c = 0; c < vectorBound; c += LANES) {
        FloatVector g = FloatVector.fromMemorySegment(SPECIES, dy, gs + 4L * c, LE);
        g.add(FloatVector.fromArray(SPECIES, sumDy, c)).intoArray(sumDy, c);
        g.fma(FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * c, LE).sub(FloatVector.fromArray(SPECIES, mean, c)),
            FloatVector.fromArray(SPECIES, sumDyXhat, c)).intoArray(sumDyXhat, c);
      }
      for (int c = vectorBound; c < channels; c++) { // scalar tail
        float g = dy.get(FLOAT_LE, gs + 4L * c);
        sumDy[c] += g;
        sumDyXhat[c] = Math.fma(g, x.get(FLOAT_LE, xs + 4L * c) - mean[c], sumDyXhat[c]);
      }
    }
  }

  /**
   * {@code PanamaBatchNormSupport.reduceFourRows} on four rows of native memory from byte {@code xs} and {@code gs}: the
   * same operations in the same order. Not on slices of the four rows: this method is not inlined, so the slices
   * escaped and were allocated (80 B a step: 20 KB a call on NC 1000x130).
   */
  private static void reduceFourRows(MemorySegment x, long xs, MemorySegment dy, long gs, int channels, float[] mean, float[] sumDy,
                                     float[] sumDyXhat) {
    int vectorBound = SPECIES.loopBound(channels);
    long w1 = 4L * channels, w2 = 2 * w1, w3 = 3 * w1;
    for (int c = 0; c < vectorBound; c += LANES) {
      long at = 4L * c;
      long ax = xs + at, ag = gs + at;
      FloatVector m = FloatVector.fromArray(SPECIES, mean, c);
      FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, dy, ag, LE), g1 = FloatVector.fromMemorySegment(SPECIES, dy, ag + w1, LE);
      FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, dy, ag + w2, LE), g3 = FloatVector.fromMemorySegment(SPECIES, dy, ag + w3, LE);
      FloatVector.fromArray(SPECIES, sumDy, c).add(g0.add(g1).add(g2.add(g3))).intoArray(sumDy, c);
      FloatVector h = FloatVector.fromArray(SPECIES, sumDyXhat, c);
      h = g0.fma(FloatVector.fromMemorySegment(SPECIES, x, ax, LE).sub(m), h);
      h = g1.fma(FloatVector.fromMemorySegment(SPECIES, x, ax + w1, LE).sub(m), h);
      h = g2.fma(FloatVector.fromMemorySegment(SPECIES, x, ax + w2, LE).sub(m), h);
      g3.fma(FloatVector.fromMemorySegment(SPECIES, x, ax + w3, LE).sub(m), h).intoArray(sumDyXhat, c);
    }
    for (int c = vectorBound; c < channels; c++) { // scalar tail, the same order
      long ax = xs + 4L * c, ag = gs + 4L * c;
      float m = mean[c], g0 = dy.get(FLOAT_LE, ag), g1 = dy.get(FLOAT_LE, ag + w1), g2 = dy.get(FLOAT_LE, ag + w2), g3 = dy.get(FLOAT_LE, ag + w3);
      sumDy[c] += (g0 + g1) + (g2 + g3);
      float h = Math.fma(g0, x.get(FLOAT_LE, ax) - m, sumDyXhat[c]);
      h = Math.fma(g1, x.get(FLOAT_LE, ax + w1) - m, h);
      h = Math.fma(g2, x.get(FLOAT_LE, ax + w2) - m, h);
      sumDyXhat[c] = Math.fma(g3, x.get(FLOAT_LE, ax + w3) - m, h);
    }
  }

  /**
   * Loops written out, not calls of reducePlane, as in the array kernel (a call per short plane cost 1.16x there).
   * A ragged plane at least a vector long takes its scalar tail from one vector ending at the plane's end,
   * copied to scratch: element by element segment reads made the reduce 1.9x the array's on 169-float
   * planes (NCHW 7x13x13x17). The same values in the same order, so the same bits.
   */
  private static void reduceChannelsFirst(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer,
                                          int channels, int inner, float[] mean, float[] sumDy, float[] sumDyXhat) {
    float[] t = Scratch.borrow(2 * LANES);
    try {
      if (inner >= WIDE_SAMPLE_PLANE) reduceChannelsFirstAbs(x, xOffset, dy, dyOffset, outer, channels, inner, mean, sumDy, sumDyXhat, t);
      else reduceChannelsFirst(x, xOffset, dy, dyOffset, outer, channels, inner, mean, sumDy, sumDyXhat, t);
    } finally {
      Scratch.release(t);
    }
  }

  private static void reduceChannelsFirst(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer,
                                          int channels, int inner, float[] mean, float[] sumDy, float[] sumDyXhat, float[] t) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    boolean vectorTail = vectorBound != inner && inner >= LANES;
    long tail = 4L * (inner - LANES);
    int shift = LANES - inner; // scratch index of element i of the tail vector: i + shift
    long sampleBytes = 4L * channels * inner;
    for (int o = 0; o < outer; o++) {
      // One slice per sample (its channels' planes are contiguous), from offset 0: the segment bounds checks are then
      // against the slice's size; a slice per plane cost its set-up once per plane (see the class javadoc).
      MemorySegment xs = x.asSlice(xOffset + o * sampleBytes, sampleBytes), gs = dy.asSlice(dyOffset + o * sampleBytes, sampleBytes);
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        long base = 4L * c * inner;
        if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
          FloatVector.fromMemorySegment(SPECIES, gs, base + tail, LE).intoArray(t, 0);
          FloatVector.fromMemorySegment(SPECIES, xs, base + tail, LE).intoArray(t, LANES);
        }
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
        FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i != upperBound; i += 2 * LANES) {
          long e = base + 4L * i, f = e + 4L * LANES;
          FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gs, e, LE);
          FloatVector dy1 = FloatVector.fromMemorySegment(SPECIES, gs, f, LE);
          g0 = g0.add(dy0);
          g1 = g1.add(dy1);
          h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xs, e, LE).sub(m), h0);
          h1 = dy1.fma(FloatVector.fromMemorySegment(SPECIES, xs, f, LE).sub(m), h1);
        }
        for (; i != vectorBound; i += LANES) {
          long e = base + 4L * i;
          FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gs, e, LE);
          g0 = g0.add(dy0);
          h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xs, e, LE).sub(m), h0);
        }
        float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
        if (vectorTail) {
          for (; i < inner; i++) { // scalar tail, from scratch
            float g = t[i + shift];
            sDy += g;
            sDyX = Math.fma(g, t[LANES + i + shift] - mean[c], sDyX);
          }
        }
        for (; i < inner; i++) { // scalar tail
          float g = gs.get(FLOAT_LE, base + 4L * i);
          sDy += g;
          sDyX = Math.fma(g, xs.get(FLOAT_LE, base + 4L * i) - mean[c], sDyX);
        }
        PanamaBatchNormSupport.addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
      }
    }
  }

  /**
   * {@link #reduceChannelsFirst} at absolute offsets ({@link #WIDE_SAMPLE_PLANE} says when): the same operations, the same
   * bits. Planes are at least {@code WIDE_SAMPLE_PLANE} floats, so a ragged one always has a whole vector to copy its tail
   * from.
   */
  private static void reduceChannelsFirstAbs(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int outer,
                                             int channels, int inner, float[] mean, float[] sumDy, float[] sumDyXhat, float[] t) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    boolean vectorTail = vectorBound != inner; // inner > LANES here
    long tail = 4L * (inner - LANES);
    int shift = LANES - inner; // scratch index of element i of the tail vector: i + shift
    long sampleBytes = 4L * channels * inner;
    for (int o = 0; o < outer; o++) {
      long xb = xOffset + o * sampleBytes, gb = dyOffset + o * sampleBytes;
      for (int c = 0; c < channels; c++) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
        long base = 4L * c * inner, xc = xb + base, gc = gb + base;
        if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
          FloatVector.fromMemorySegment(SPECIES, dy, gc + tail, LE).intoArray(t, 0);
          FloatVector.fromMemorySegment(SPECIES, x, xc + tail, LE).intoArray(t, LANES);
        }
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
        FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
        int i = 0;
        for (; i != upperBound; i += 2 * LANES) {
          long e = 4L * i, f = e + 4L * LANES;
          FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, dy, gc + e, LE);
          FloatVector dy1 = FloatVector.fromMemorySegment(SPECIES, dy, gc + f, LE);
          g0 = g0.add(dy0);
          g1 = g1.add(dy1);
          h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, x, xc + e, LE).sub(m), h0);
          h1 = dy1.fma(FloatVector.fromMemorySegment(SPECIES, x, xc + f, LE).sub(m), h1);
        }
        for (; i != vectorBound; i += LANES) {
          long e = 4L * i;
          FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, dy, gc + e, LE);
          g0 = g0.add(dy0);
          h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, x, xc + e, LE).sub(m), h0);
        }
        float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
        for (; i < inner; i++) { // scalar tail, from scratch (none unless vectorTail)
          float g = t[i + shift];
          sDy += g;
          sDyX = Math.fma(g, t[LANES + i + shift] - mean[c], sDyX);
        }
        PanamaBatchNormSupport.addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
      }
    }
  }

  /**
   * Planes longer than one apply block ({@code APPLY_BLOCK}, 4096 floats) are read at absolute offsets into the caller's
   * segments ({@link #reducePlaneWide}, {@link #applyPlanesWide}); shorter ones through a slice per plane
   * ({@link #reducePlaneSliced}, {@link #applyPlanesSliced}). Why (twenty-seventh session): in a program that calls only
   * this backward, the slices of planes longer than 4096 floats were allocated in every fresh JVM tried (NCHW 8x3x50176
   * 4800 B a call, 2x3x8192, 8x8x6000, 2x16x8192, 1x1x50176; 2x3x4100 in one of two), those of 3136- and 4096-float planes
   * in none: C2 refused the JDK's {@code asSliceNoCheck} for "low call site frequency" (the twenty-sixth session's
   * finding for LayerNorm's wide rows), and once in five JVMs even after 3000 calls on 3136-float planes had warmed the
   * sliced bodies. Absolute offsets cost 7-10% at 3136-float planes (twenty-fifth session), so the shorter planes keep
   * their slices; from 4097 floats they cost little where the slices were scalar-replaced: native/{@code float[]} NCHW
   * backward, after that warm-up, five JVMs each alternating (a probe, not committed), 0.67-0.87 against 0.60-0.72 at
   * 8x3x50176, 1.01-1.04 against 0.96-1.04 at 2x16x8192, 0.93-1.02 against 0.95-0.98 at 4x4x20000 (sliced JVMs that
   * allocated left out). A counted loop ({@code i < bound}) at absolute offsets read 0.90-0.92 at 8x3x50176. The dispatch
   * sits in these small methods, not in the bodies: inside the sliced LayerNorm row bodies it made C2 box their vectors.
   */
  /**
   * The memory-order reduce and apply ({@link #reduceChannelsFirstAbs}, {@link #applyChannelsFirstAbs}) read samples of
   * planes this long and longer at absolute offsets, shorter ones through a slice per sample. Why (twenty-seventh
   * session): in programs that call only this backward, the per-sample slices were allocated (jmh's {@code PlainCallProbe
   * bn bwd}, 6000 calls: NCHW 8x512x1024 1600 B a call in 3 of 3 fresh JVMs, 4x256x300 800 B in 3 of 3; 32x256x196,
   * 64x128x400, 32x64x1000 and 7x17x169 in none). On short planes absolute offsets cost 10-50% (native/{@code float[]},
   * three alternating JVMs: 32x256x196 1.56-2.17 against 1.12-1.45, 4x256x300 1.18-1.27 against 1.08-1.15, 7x17x169
   * 1.09-1.16 against 0.88-1.07), so those keep their slices and 4x256x300 still allocates in such programs; from 1024
   * floats they cost nothing: 8x512x1024 0.80-0.94 against 0.83-0.97, 16x128x2048 0.81-0.86 against 0.90-0.94,
   * 32x64x1024 0.80-0.84 against 0.81-0.97, 8x256x1536 0.90-0.94 against 0.86-0.92 (the 1024 of the native normalize's
   * planes, twenty-fifth session).
   */
  static final int WIDE_SAMPLE_PLANE = 1024;
  static final int WIDE_PLANE = APPLY_BLOCK + 1;

  /** Channels-last super rows of this many floats and more are reduced at absolute offsets ({@link #reduceInterleavedWide}). */
  static final int WIDE_ROW = 2048;

  private static void reducePlane(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int o, int channels, int inner,
                                  int c, float[] mean, float[] sumDy, float[] sumDyXhat, float[] t) {
    if (inner >= WIDE_PLANE) reducePlaneWide(x, xOffset, dy, dyOffset, o, channels, inner, c, mean, sumDy, sumDyXhat, t);
    else reducePlaneSliced(x, xOffset, dy, dyOffset, o, channels, inner, c, mean, sumDy, sumDyXhat, t);
  }

  private static void applyPlanes(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                  int outer, int channels, int inner, int c, float[] mean, float[] invStd, float[] gamma,
                                  float[] sumDy, float[] sumDyXhat, double count) {
    if (inner >= WIDE_PLANE) {
      applyPlanesWide(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat, count);
    } else {
      applyPlanesSliced(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, c, mean, invStd, gamma, sumDy, sumDyXhat,
          count);
    }
  }

  /**
   * {@link #reducePlaneSliced} at absolute offsets (planes of {@link #WIDE_PLANE} floats and more, so the vector tail is
   * always a whole vector inside the plane): the same loads in the same order, so the same bits.
   */
  private static void reducePlaneWide(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int o, int channels,
                                      int inner, int c, float[] mean, float[] sumDy, float[] sumDyXhat, float[] t) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
    long plane = 4L * ((long) o * channels + c) * inner, xb = xOffset + plane, gb = dyOffset + plane;
    boolean vectorTail = vectorBound != inner; // inner > LANES here
    if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
      long tail = 4L * (inner - LANES);
      FloatVector.fromMemorySegment(SPECIES, dy, gb + tail, LE).intoArray(t, 0);
      FloatVector.fromMemorySegment(SPECIES, x, xb + tail, LE).intoArray(t, LANES);
    }
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
    FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int i = 0;
    for (; i != upperBound; i += 2 * LANES) {
      long e = 4L * i, f = e + 4L * LANES;
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, dy, gb + e, LE);
      FloatVector dy1 = FloatVector.fromMemorySegment(SPECIES, dy, gb + f, LE);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + e, LE).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + f, LE).sub(m), h1);
    }
    for (; i != vectorBound; i += LANES) {
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, dy, gb + 4L * i, LE);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, x, xb + 4L * i, LE).sub(m), h0);
    }
    float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
    int shift = LANES - inner; // scratch index of element i of the tail vector: i + shift
    for (; i < inner; i++) { // scalar tail, from scratch
      float g = t[i + shift];
      sDy += g;
      sDyX = Math.fma(g, t[LANES + i + shift] - mean[c], sDyX);
    }
    PanamaBatchNormSupport.addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
  }

  /**
   * Plane (o, c)'s sums added to channel c's (assigned for o == 0), as {@code PanamaBatchNormSupport.reducePlane}. A
   * ragged tail is read from one vector of dy and one of x ending at the plane's end, copied to {@code t}
   * ({@code 2 * LANES} floats), instead of one checked {@code get} per float: the same values in the same order, so the
   * same bits. With it the native backward went from 1.76x to 1.46x the
   * {@code float[]} time on NCHW 7x13x13x17 (169-float planes: 9 floats of x and 9 of dy per plane) and from 1.23x
   * to 1.16x on NCHW 32x14x14x256 (medians of three alternating rounds of {@code SegmentCheck ratio}, load 6.8-8.5).
   * The vector loops exit on equality, not counted loops, as in {@code PanamaNativeMoments.plane} (which says why):
   * NCHW 8x3x224x224 backward alone in a JVM 1.19-1.27 to 0.89-1.23 segment/{@code float[]} (session 14; in the ten-shape
   * JVM 1.04-1.40 to 1.01-1.37, within its spread); NCHW 64x56x56x64 stays at 1.12-1.17 either way, and there
   * {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0} does not help either (1.05-1.09): not the checks.
   */
  private static void reducePlaneSliced(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int o, int channels,
                                        int inner, int c, float[] mean, float[] sumDy, float[] sumDyXhat, float[] t) {
    int upperBound = inner - inner % (2 * LANES), vectorBound = SPECIES.loopBound(inner);
    FloatVector m = FloatVector.broadcast(SPECIES, mean[c]);
    long plane = 4L * ((long) o * channels + c) * inner;
    // Each plane through its own slices, from offset 0, as in reduceChannelsFirst above.
    MemorySegment xq = x.asSlice(xOffset + plane, 4L * inner), gq = dy.asSlice(dyOffset + plane, 4L * inner);
    boolean vectorTail = vectorBound != inner && inner >= LANES; // always, above FUSED_MIN_INNER, for up to 128 lanes
    if (vectorTail) { // copied first: scalar reads right after a wide store of the same bytes stall on store forwarding
      long tail = 4L * (inner - LANES);
      FloatVector.fromMemorySegment(SPECIES, gq, tail, LE).intoArray(t, 0);
      FloatVector.fromMemorySegment(SPECIES, xq, tail, LE).intoArray(t, LANES);
    }
    FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
    FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
    int i = 0;
    for (; i != upperBound; i += 2 * LANES) {
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gq, 4L * i, LE);
      FloatVector dy1 = FloatVector.fromMemorySegment(SPECIES, gq, 4L * (i + LANES), LE);
      g0 = g0.add(dy0);
      g1 = g1.add(dy1);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xq, 4L * i, LE).sub(m), h0);
      h1 = dy1.fma(FloatVector.fromMemorySegment(SPECIES, xq, 4L * (i + LANES), LE).sub(m), h1);
    }
    for (; i != vectorBound; i += LANES) {
      FloatVector dy0 = FloatVector.fromMemorySegment(SPECIES, gq, 4L * i, LE);
      g0 = g0.add(dy0);
      h0 = dy0.fma(FloatVector.fromMemorySegment(SPECIES, xq, 4L * i, LE).sub(m), h0);
    }
    float sDy = sumLanes(g0.add(g1)), sDyX = sumLanes(h0.add(h1));
    if (vectorTail) {
      int shift = LANES - inner; // scratch index of element i of the tail vector: i + shift
      for (; i < inner; i++) { // scalar tail, from scratch
        float g = t[i + shift];
        sDy += g;
        sDyX = Math.fma(g, t[LANES + i + shift] - mean[c], sDyX);
      }
    }
    for (; i < inner; i++) { // scalar tail (planes shorter than a vector)
      float g = gq.get(FLOAT_LE, 4L * i);
      sDy += g;
      sDyX = Math.fma(g, xq.get(FLOAT_LE, 4L * i) - mean[c], sDyX);
    }
    PanamaBatchNormSupport.addPlaneSums(sumDy, sumDyXhat, c, o, sDy, sDyX);
  }

  // ---------------------------------------------------------------- apply

  /** {@link BatchNormSupport#backwardApply} on native memory; false when not {@link #supported}. dx may be x or dy. */
  static boolean apply(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                       int outer, int channels, int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy,
                       float[] sumDyXhat, double count) {
    if (!supported(channels, inner)) return false;
    int width = inner > 1 ? -1 : superWidth(channels);
    float[] coef = Coefficients.backward(Scratch.borrow(4 * channels + 4 * Math.max(width, 0)), channels, invStd, gamma, sumDy,
        sumDyXhat, count);
    try {
      if (inner > 1) {
        if (inner >= WIDE_SAMPLE_PLANE) applyChannelsFirstAbs(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, coef);
        else applyChannelsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, outer, channels, inner, mean, coef);
      } else if (width < 0) {
        int block = Math.max(1, ROWS_APPLY_BLOCK / channels); // as the float[] body: blocks of rows from the end back
        for (int hi = outer; hi > 0; hi -= block) {
          int lo = Math.max(0, hi - block);
          long at = 4L * lo * channels;
          applyRows(x, xOffset + at, dy, dyOffset + at, dx, dxOffset + at, hi - lo, channels, mean, 0, coef);
        }
      } else {
        System.arraycopy(mean, 0, coef, 3 * channels, channels);
        applyPattern(x, xOffset, dy, dyOffset, dx, dxOffset, (long) outer * channels, channels, width, coef);
      }
    } finally {
      Scratch.release(coef);
    }
    return true;
  }

  /** {@code PanamaBatchNormSupport.applyPattern} on native memory (offsets in bytes): the same head, walks and bits. */
  static void applyPattern(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset, long total,
                           int channels, int width, float[] coef) {
    int h = PanamaBatchNormSupport.head(x, xOffset, total); // vectors from a line on, as the float[] body
    long skip = 4L * h;
    tilePattern(coef, 0, channels, 4, 4 * channels, width, h % channels); // [a | b | k | mean] over a super row from channel h
    for (int i = 0, c = 0; i < h; i++, c = c + 1 == channels ? 0 : c + 1) { // the head, one float at a time: the vector loop's formula
      dx.set(FLOAT_LE, dxOffset + 4L * i, Math.fma(dy.get(FLOAT_LE, dyOffset + 4L * i), coef[c],
          Math.fma(x.get(FLOAT_LE, xOffset + 4L * i) - coef[3 * channels + c], coef[channels + c], coef[2 * channels + c])));
    }
    int stride = registerStride(channels);
    if (stride > 0) {
      applyRegistersFromEnd(x, xOffset + skip, dy, dyOffset + skip, dx, dxOffset + skip, total - h, width, stride, coef, 4 * channels);
    } else {
      applySuperRowsFromEnd(x, xOffset + skip, dy, dyOffset + skip, dx, dxOffset + skip, total - h, width, coef, 4 * channels);
    }
  }

  /** {@code PanamaBatchNormSupport.applySuperRowsFromEnd} on native memory: the same blocks in the same order. */
  static void applySuperRowsFromEnd(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                    long dxOffset, long total, int width, float[] coef, int at) {
    long full = total - total % width, block = (long) width * Math.max(1, ROWS_APPLY_BLOCK / width);
    applySuperRows(x, xOffset + 4 * full, dy, dyOffset + 4 * full, dx, dxOffset + 4 * full, total - full, width, coef, at);
    for (long hi = full; hi > 0; hi -= block) {
      long lo = Math.max(0, hi - block);
      applySuperRows(x, xOffset + 4 * lo, dy, dyOffset + 4 * lo, dx, dxOffset + 4 * lo, hi - lo, width, coef, at);
    }
  }

  /** {@code PanamaBatchNormSupport.applyRegistersFromEnd} on native memory: the same blocks in the same order. */
  static void applyRegistersFromEnd(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                    long dxOffset, long total, int width, int stride, float[] coef, int at) {
    long full = total - total % stride, block = (long) stride * Math.max(1, ROWS_APPLY_BLOCK / stride);
    applySuperRows(x, xOffset + 4 * full, dy, dyOffset + 4 * full, dx, dxOffset + 4 * full, total - full, width, coef, at);
    for (long hi = full; hi > 0; hi -= block) {
      long lo = Math.max(0, hi - block);
      if (stride == 4 * LANES) {
        applyRegisters4(x, xOffset + 4 * lo, dy, dyOffset + 4 * lo, dx, dxOffset + 4 * lo, hi - lo, width, coef, at);
      } else {
        applyRegisters3(x, xOffset + 4 * lo, dy, dyOffset + 4 * lo, dx, dxOffset + 4 * lo, hi - lo, width, coef, at);
      }
    }
  }

  /** {@code PanamaBatchNormSupport.applyRegisters4} on native memory: {@code n} floats, offsets in bytes. */
  private static void applyRegisters4(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, long n,
                                      int width, float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES), a3 = FloatVector.fromArray(SPECIES, coef, at + 3 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES), b3 = FloatVector.fromArray(SPECIES, coef, b + 3 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES), k3 = FloatVector.fromArray(SPECIES, coef, k + 3 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES), m3 = FloatVector.fromArray(SPECIES, coef, m + 3 * LANES);
    long end = 4 * n, step = 16L * LANES, v = 4L * LANES;
    for (long i = 0; i < end; i += step) {
      FloatVector x0 = FloatVector.fromMemorySegment(SPECIES, x, xs + i, LE), x1 = FloatVector.fromMemorySegment(SPECIES, x, xs + i + v, LE);
      FloatVector x2 = FloatVector.fromMemorySegment(SPECIES, x, xs + i + 2 * v, LE), x3 = FloatVector.fromMemorySegment(SPECIES, x, xs + i + 3 * v, LE);
      FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i, LE), g1 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i + v, LE);
      FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i + 2 * v, LE), g3 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i + 3 * v, LE);
      g0.fma(a0, x0.sub(m0).fma(b0, k0)).intoMemorySegment(dx, ds + i, LE);
      g1.fma(a1, x1.sub(m1).fma(b1, k1)).intoMemorySegment(dx, ds + i + v, LE);
      g2.fma(a2, x2.sub(m2).fma(b2, k2)).intoMemorySegment(dx, ds + i + 2 * v, LE);
      g3.fma(a3, x3.sub(m3).fma(b3, k3)).intoMemorySegment(dx, ds + i + 3 * v, LE);
    }
  }

  /** {@code PanamaBatchNormSupport.applyRegisters3} on native memory: {@code n} floats, offsets in bytes. */
  private static void applyRegisters3(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, long n,
                                      int width, float[] coef, int at) {
    int b = at + width, k = at + 2 * width, m = at + 3 * width;
    FloatVector a0 = FloatVector.fromArray(SPECIES, coef, at), a1 = FloatVector.fromArray(SPECIES, coef, at + LANES);
    FloatVector a2 = FloatVector.fromArray(SPECIES, coef, at + 2 * LANES);
    FloatVector b0 = FloatVector.fromArray(SPECIES, coef, b), b1 = FloatVector.fromArray(SPECIES, coef, b + LANES);
    FloatVector b2 = FloatVector.fromArray(SPECIES, coef, b + 2 * LANES);
    FloatVector k0 = FloatVector.fromArray(SPECIES, coef, k), k1 = FloatVector.fromArray(SPECIES, coef, k + LANES);
    FloatVector k2 = FloatVector.fromArray(SPECIES, coef, k + 2 * LANES);
    FloatVector m0 = FloatVector.fromArray(SPECIES, coef, m), m1 = FloatVector.fromArray(SPECIES, coef, m + LANES);
    FloatVector m2 = FloatVector.fromArray(SPECIES, coef, m + 2 * LANES);
    long end = 4 * n, step = 12L * LANES, v = 4L * LANES;
    for (long i = 0; i < end; i += step) {
      FloatVector x0 = FloatVector.fromMemorySegment(SPECIES, x, xs + i, LE), x1 = FloatVector.fromMemorySegment(SPECIES, x, xs + i + v, LE);
      FloatVector x2 = FloatVector.fromMemorySegment(SPECIES, x, xs + i + 2 * v, LE);
      FloatVector g0 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i, LE), g1 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i + v, LE);
      FloatVector g2 = FloatVector.fromMemorySegment(SPECIES, dy, gs + i + 2 * v, LE);
      g0.fma(a0, x0.sub(m0).fma(b0, k0)).intoMemorySegment(dx, ds + i, LE);
      g1.fma(a1, x1.sub(m1).fma(b1, k1)).intoMemorySegment(dx, ds + i + v, LE);
      g2.fma(a2, x2.sub(m2).fma(b2, k2)).intoMemorySegment(dx, ds + i + 2 * v, LE);
    }
  }

  /**
   * {@code PanamaBatchNormSupport.applySuperRows} on native memory: {@code total} floats, coefficients at {@code at}.
   * GroupNorm's channels-last dx runs on it too (its own copy kept the scalar tail this one replaced).
   */
  static void applySuperRows(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                             long dxOffset, long total, int width, float[] coef, int at) {
    long i = 0;
    for (; i + width <= total; i += width) applyRun(x, xOffset + 4 * i, dy, dyOffset + 4 * i, dx, dxOffset + 4 * i, width, width, coef, at);
    int rest = (int) (total - i); // rows that do not fill a super row: the pattern continues
    long xs = xOffset + 4 * i, gs = dyOffset + 4 * i, ds = dxOffset + 4 * i;
    // A ragged end longer than a vector: one vector ending at the end, loaded before anything is written (dx may be
    // x or dy), for the scalar tail's checked gets and sets; each element gets the same two FMAs, so the same bits.
    // The two vectors are loaded in the branch that uses them, not merged with a default before it: merged with
    // FloatVector.zero (or null before that), C2 boxed the default, 120 B a call on NHWC 64x56x56x64 backward in fresh
    // JVMs running only that call (PlainCallProbe, twenty-fifth session).
    if (rest % LANES != 0 && rest > LANES) {
      int last = rest - LANES;
      FloatVector lastDy = FloatVector.fromMemorySegment(SPECIES, dy, gs + 4L * last, LE);
      FloatVector lastX = FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * last, LE);
      applyRun(x, xs, dy, gs, dx, ds, SPECIES.loopBound(rest), width, coef, at);
      FloatVector inner = lastX.sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + last))
          .fma(FloatVector.fromArray(SPECIES, coef, at + width + last), FloatVector.fromArray(SPECIES, coef, at + 2 * width + last));
      lastDy.fma(FloatVector.fromArray(SPECIES, coef, at + last), inner).intoMemorySegment(dx, ds + 4L * last, LE);
      return;
    }
    int j = SPECIES.loopBound(rest);
    applyRun(x, xs, dy, gs, dx, ds, j, width, coef, at);
    for (; j < rest; j++) { // scalar tail
      int c = at + j;
      float v = Math.fma(dy.get(FLOAT_LE, gs + 4L * j), coef[c],
          Math.fma(x.get(FLOAT_LE, xs + 4L * j) - coef[c + 3 * width], coef[c + width], coef[c + 2 * width]));
      dx.set(FLOAT_LE, ds + 4L * j, v);
    }
  }

  /**
   * {@link #applySuperRows}' vectors over the first {@code bound} floats (a multiple of LANES) of a super row, or of the
   * rest after the last whole one; only scalars cross.
   */
  private static void applyRun(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int bound, int width,
                                float[] coef, int at) {
    for (int j = 0; j < bound; j += LANES) {
      FloatVector xm = FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * j, LE)
          .sub(FloatVector.fromArray(SPECIES, coef, at + 3 * width + j));
      FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, at + width + j),
          FloatVector.fromArray(SPECIES, coef, at + 2 * width + j));
      FloatVector.fromMemorySegment(SPECIES, dy, gs + 4L * j, LE).fma(FloatVector.fromArray(SPECIES, coef, at + j), inner)
          .intoMemorySegment(dx, ds + 4L * j, LE);
    }
  }

  /**
   * {@code PanamaBatchNormSupport.applyRows} on native memory, coefficients {@code [a | b | k]} per channel, the
   * means at {@code mean[meanAt + c]} (GroupNorm's row ranges read them from the coefficients in place).
   */
  static void applyRows(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                        int outer, int channels, float[] mean, int meanAt, float[] coef) {
    int vectorBound = SPECIES.loopBound(channels);
    int four = channels >= PanamaBatchNormSupport.APPLY_FOUR_ROWS_MIN_CHANNELS ? outer - outer % 4 : 0;
    for (int r = 0; r < four; r += 4) { // wide rows four at a time, as the array kernel (elementwise: any grouping, the same bits)
      long row = 4L * r * channels;
      applyFourRows(x, xOffset + row, dy, dyOffset + row, dx, dxOffset + row, channels, mean, meanAt, coef);
    }
    for (int r = four; r < outer; r++) {
      long row = 4L * r * channels, xs = xOffset + row, gs = dyOffset + row, ds = dxOffset + row;
      int c = 0;
      for (; c < vectorBound; c += LANES) {
        FloatVector xm = FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * c, LE).sub(FloatVector.fromArray(SPECIES, mean, meanAt + c));
        FloatVector inner = xm.fma(FloatVector.fromArray(SPECIES, coef, channels + c), FloatVector.fromArray(SPECIES, coef, 2 * channels + c));
        FloatVector.fromMemorySegment(SPECIES, dy, gs + 4L * c, LE).fma(FloatVector.fromArray(SPECIES, coef, c), inner)
            .intoMemorySegment(dx, ds + 4L * c, LE);
      }
      for (; c < channels; c++) { // scalar tail
        float v = Math.fma(dy.get(FLOAT_LE, gs + 4L * c), coef[c],
            Math.fma(x.get(FLOAT_LE, xs + 4L * c) - mean[meanAt + c], coef[channels + c], coef[2 * channels + c]));
        dx.set(FLOAT_LE, ds + 4L * c, v);
      }
    }
  }

  /** {@code PanamaBatchNormSupport.applyFourRows} on native memory (byte offsets): the coefficients loaded once per position for four rows. */
  private static void applyFourRows(MemorySegment x, long xs, MemorySegment dy, long gs, MemorySegment dx, long ds, int channels,
                                    float[] mean, int meanAt, float[] coef) {
    int vectorBound = SPECIES.loopBound(channels), w2 = 2 * channels;
    long r1 = 4L * channels, r2 = 2 * r1, r3 = 3 * r1;
    for (int c = 0; c < vectorBound; c += LANES) {
      long o = 4L * c;
      FloatVector m = FloatVector.fromArray(SPECIES, mean, meanAt + c), a = FloatVector.fromArray(SPECIES, coef, c);
      FloatVector b = FloatVector.fromArray(SPECIES, coef, channels + c), k = FloatVector.fromArray(SPECIES, coef, w2 + c);
      FloatVector.fromMemorySegment(SPECIES, dy, gs + o, LE).fma(a, FloatVector.fromMemorySegment(SPECIES, x, xs + o, LE).sub(m).fma(b, k))
          .intoMemorySegment(dx, ds + o, LE);
      FloatVector.fromMemorySegment(SPECIES, dy, gs + r1 + o, LE).fma(a, FloatVector.fromMemorySegment(SPECIES, x, xs + r1 + o, LE).sub(m).fma(b, k))
          .intoMemorySegment(dx, ds + r1 + o, LE);
      FloatVector.fromMemorySegment(SPECIES, dy, gs + r2 + o, LE).fma(a, FloatVector.fromMemorySegment(SPECIES, x, xs + r2 + o, LE).sub(m).fma(b, k))
          .intoMemorySegment(dx, ds + r2 + o, LE);
      FloatVector.fromMemorySegment(SPECIES, dy, gs + r3 + o, LE).fma(a, FloatVector.fromMemorySegment(SPECIES, x, xs + r3 + o, LE).sub(m).fma(b, k))
          .intoMemorySegment(dx, ds + r3 + o, LE);
    }
    for (long r = 0; r <= r3; r += r1) {
      for (int c = vectorBound; c < channels; c++) { // scalar tail
        long o = r + 4L * c;
        float v = Math.fma(dy.get(FLOAT_LE, gs + o), coef[c], Math.fma(x.get(FLOAT_LE, xs + o) - mean[meanAt + c], coef[channels + c], coef[w2 + c]));
        dx.set(FLOAT_LE, ds + o, v);
      }
    }
  }

  /**
   * Memory order, outer slices first. A ragged plane longer than a vector ends with one vector ending at
   * the plane's end (loaded before the plane is written: dx may be x or dy) instead of the array
   * kernel's scalar tail: each element gets the same two FMAs, so the same bits, and short planes
   * (NCHW 7x7: 49 floats) skip the per-element segment accesses. Coefficients {@code [a | b | k]} come
   * folded once per call, not per plane as in the array kernel: two double divisions per 49-float plane
   * were a tenth of the apply's time. Same formulas ({@link Coefficients#backward}), so the same values.
   */
  private static void applyChannelsFirst(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                         long dxOffset, int outer, int channels, int inner, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(inner);
    boolean overlapTail = vectorBound != inner && inner > LANES;
    long tail = 4L * (inner - LANES);
    long sampleBytes = 4L * channels * inner;
    for (int o = 0; o < outer; o++) {
      // One slice per sample, from offset 0, as in reduceChannelsFirst above.
      long at = o * sampleBytes;
      MemorySegment xs = x.asSlice(xOffset + at, sampleBytes), gs = dy.asSlice(dyOffset + at, sampleBytes);
      MemorySegment ds = dx.asSlice(dxOffset + at, sampleBytes);
      for (int c = 0; c < channels; c++) {
        float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c];
        FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
        FloatVector vk = FloatVector.broadcast(SPECIES, k), m = FloatVector.broadcast(SPECIES, mean[c]);
        long base = 4L * c * inner;
        FloatVector lastDy = FloatVector.zero(SPECIES), lastX = lastDy; // not null: C2 boxes a vector merged with null (160 B a call)
        if (overlapTail) {
          lastDy = FloatVector.fromMemorySegment(SPECIES, gs, base + tail, LE);
          lastX = FloatVector.fromMemorySegment(SPECIES, xs, base + tail, LE);
        }
        int i = 0;
        for (; i != vectorBound; i += LANES) {
          long e = base + 4L * i;
          FloatVector.fromMemorySegment(SPECIES, gs, e, LE)
              .fma(va, FloatVector.fromMemorySegment(SPECIES, xs, e, LE).sub(m).fma(vb, vk))
              .intoMemorySegment(ds, e, LE);
        }
        if (overlapTail) {
          lastDy.fma(va, lastX.sub(m).fma(vb, vk)).intoMemorySegment(ds, base + tail, LE);
          continue;
        }
        float mc = mean[c];
        for (; i < inner; i++) { // scalar tail
          long e = base + 4L * i;
          ds.set(FLOAT_LE, e, Math.fma(gs.get(FLOAT_LE, e), a, Math.fma(xs.get(FLOAT_LE, e) - mc, b, k)));
        }
      }
    }
  }

  /**
   * {@link #applyChannelsFirst} at absolute offsets ({@link #WIDE_SAMPLE_PLANE} says when): the same operations, the same
   * bits. Planes are at least {@code WIDE_SAMPLE_PLANE} floats, so a ragged end always takes the overlapping last vector.
   */
  private static void applyChannelsFirstAbs(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                            long dxOffset, int outer, int channels, int inner, float[] mean, float[] coef) {
    int vectorBound = SPECIES.loopBound(inner);
    boolean overlapTail = vectorBound != inner; // inner > LANES here
    long tail = 4L * (inner - LANES);
    long sampleBytes = 4L * channels * inner;
    for (int o = 0; o < outer; o++) {
      long at = o * sampleBytes, xb = xOffset + at, gb = dyOffset + at, db = dxOffset + at;
      for (int c = 0; c < channels; c++) {
        float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c];
        FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
        FloatVector vk = FloatVector.broadcast(SPECIES, k), m = FloatVector.broadcast(SPECIES, mean[c]);
        long base = 4L * c * inner, xc = xb + base, gc = gb + base, dc = db + base;
        FloatVector lastDy = FloatVector.zero(SPECIES), lastX = lastDy; // not null: C2 boxes a vector merged with null (160 B a call)
        if (overlapTail) {
          lastDy = FloatVector.fromMemorySegment(SPECIES, dy, gc + tail, LE);
          lastX = FloatVector.fromMemorySegment(SPECIES, x, xc + tail, LE);
        }
        for (int i = 0; i != vectorBound; i += LANES) {
          long e = 4L * i;
          FloatVector.fromMemorySegment(SPECIES, dy, gc + e, LE)
              .fma(va, FloatVector.fromMemorySegment(SPECIES, x, xc + e, LE).sub(m).fma(vb, vk))
              .intoMemorySegment(dx, dc + e, LE);
        }
        if (overlapTail) lastDy.fma(va, lastX.sub(m).fma(vb, vk)).intoMemorySegment(dx, dc + tail, LE);
      }
    }
  }

  /**
   * All planes of channel c, as {@code PanamaBatchNormSupport.applyPlanes} (last plane first, blocks from each plane's end
   * back), with the same overlapping last vector. The block loop exits on equality ({@link #reducePlane}).
   */
  private static void applyPlanesSliced(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                        long dxOffset, int outer, int channels, int inner, int c, float[] mean, float[] invStd,
                                        float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    int vectorBound = SPECIES.loopBound(inner);
    float a = Coefficients.backwardA(invStd, gamma, c);
    float b = Coefficients.backwardB(a, invStd, sumDyXhat, count, c), k = Coefficients.backwardK(a, sumDy, count, c);
    FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
    FloatVector vk = FloatVector.broadcast(SPECIES, k), m = FloatVector.broadcast(SPECIES, mean[c]);
    boolean overlapTail = vectorBound != inner && inner > LANES;
    long tail = 4L * (inner - LANES);
    for (int o = outer - 1; o >= 0; o--) {
      long plane = 4L * ((long) o * channels + c) * inner;
      // Each plane through its own slices, from offset 0, as in reduceChannelsFirst above.
      MemorySegment xq = x.asSlice(xOffset + plane, 4L * inner), gq = dy.asSlice(dyOffset + plane, 4L * inner);
      MemorySegment dq = dx.asSlice(dxOffset + plane, 4L * inner);
      FloatVector lastDy = FloatVector.zero(SPECIES), lastX = lastDy; // not null: C2 boxes a vector merged with null (160 B a call)
      if (overlapTail) {
        lastDy = FloatVector.fromMemorySegment(SPECIES, gq, tail, LE);
        lastX = FloatVector.fromMemorySegment(SPECIES, xq, tail, LE);
      }
      for (int hi = vectorBound; hi > 0; hi -= APPLY_BLOCK) {
        for (int i = Math.max(0, hi - APPLY_BLOCK); i != hi; i += LANES) {
          FloatVector.fromMemorySegment(SPECIES, gq, 4L * i, LE)
              .fma(va, FloatVector.fromMemorySegment(SPECIES, xq, 4L * i, LE).sub(m).fma(vb, vk))
              .intoMemorySegment(dq, 4L * i, LE);
        }
      }
      if (overlapTail) {
        lastDy.fma(va, lastX.sub(m).fma(vb, vk)).intoMemorySegment(dq, tail, LE);
        continue;
      }
      float mc = mean[c];
      for (int i = vectorBound; i < inner; i++) { // scalar tail
        dq.set(FLOAT_LE, 4L * i, Math.fma(gq.get(FLOAT_LE, 4L * i), a, Math.fma(xq.get(FLOAT_LE, 4L * i) - mc, b, k)));
      }
    }
  }

  /**
   * {@link #applyPlanesSliced} at absolute offsets (planes of {@link #WIDE_PLANE} floats and more, so a ragged end always
   * takes the overlapping last vector): the same operations in the same order, so the same bits.
   */
  private static void applyPlanesWide(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                                      long dxOffset, int outer, int channels, int inner, int c, float[] mean, float[] invStd,
                                      float[] gamma, float[] sumDy, float[] sumDyXhat, double count) {
    int vectorBound = SPECIES.loopBound(inner);
    float a = Coefficients.backwardA(invStd, gamma, c);
    float b = Coefficients.backwardB(a, invStd, sumDyXhat, count, c), k = Coefficients.backwardK(a, sumDy, count, c);
    FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
    FloatVector vk = FloatVector.broadcast(SPECIES, k), m = FloatVector.broadcast(SPECIES, mean[c]);
    boolean overlapTail = vectorBound != inner; // inner > LANES here
    long tail = 4L * (inner - LANES);
    for (int o = outer - 1; o >= 0; o--) {
      long plane = 4L * ((long) o * channels + c) * inner, xb = xOffset + plane, gb = dyOffset + plane, db = dxOffset + plane;
      FloatVector lastDy = FloatVector.zero(SPECIES), lastX = lastDy; // not null: C2 boxes a vector merged with null
      if (overlapTail) {
        lastDy = FloatVector.fromMemorySegment(SPECIES, dy, gb + tail, LE);
        lastX = FloatVector.fromMemorySegment(SPECIES, x, xb + tail, LE);
      }
      for (int hi = vectorBound; hi > 0; hi -= APPLY_BLOCK) {
        for (int i = Math.max(0, hi - APPLY_BLOCK); i != hi; i += LANES) {
          long e = 4L * i;
          FloatVector.fromMemorySegment(SPECIES, dy, gb + e, LE)
              .fma(va, FloatVector.fromMemorySegment(SPECIES, x, xb + e, LE).sub(m).fma(vb, vk))
              .intoMemorySegment(dx, db + e, LE);
        }
      }
      if (overlapTail) lastDy.fma(va, lastX.sub(m).fma(vb, vk)).intoMemorySegment(dx, db + tail, LE);
    }
  }
}
