package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link PanamaBatchNormSupport#moments} straight on native memory: the same kernels (channels-last super
 * rows with shifted sums against pivots, Chan's merge per block, the two-pass redo of cancelled positions,
 * the double fold; channels-first per plane), with Vector API segment loads at byte offsets. Staging a
 * native tensor through arrays cost 1.3-2.2x the {@code float[]} time (a copy in per tile); these read it
 * once, as the array kernels read the array.
 *
 * <p>Why a second body and not the array kernels on a segment: C2 compiles segment access well only while
 * the loop's type profile has seen one segment class, and only plain native segments
 * ({@code isNative()}, not mapped) ever reach these loops (README, "How the kernels work": "Why a second
 * body and not one kernel over segments"; the same reason as {@link PanamaBatchNormSupport#normalizeNative}).
 *
 * <p>Same arithmetic in the same order as the array kernels, so the same bits ({@code NativeMomentsTest}):
 * every vector operation and every scalar expression below is the array code's with {@code x[i]} read from
 * the segment. Helpers that do not read x ({@link PanamaBatchNormSupport#mergeBlocks},
 * {@link PanamaBatchNormSupport#foldPositions} for the super rows, Chan's scalar merge, the pivot add, the
 * double redo of non-finite channels) are the array code's own, fed with the few floats they read copied
 * into pooled scratch. Offsets are bytes ({@code long}); the segment and offsets are loop-invariant, so
 * C2 hoists the segment checks out of the loops as it does the array bounds checks.
 */
final class PanamaNativeMoments {
  private PanamaNativeMoments() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /**
   * Moments of {@code [outer, channels, inner]} floats at byte offset {@code xOffset} of a native segment.
   * Returns false, having written nothing, for tensors of 2^31 floats or more (the array kernels' index
   * range, whose int arithmetic this mirrors): the caller stages them.
   */
  static boolean moments(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean, float[] meanResidual,
                         float[] variance) {
    if ((long) outer * channels * inner > Integer.MAX_VALUE) return false;
    if (inner == 1) {
      channelsLast(x, xOffset, outer, channels, mean, meanResidual, variance);
    } else {
      // Each channel's first element (as the array code reads them), then planePair's accumulators and tails at channels.
      float[] pivots = Scratch.borrow(channels + 6 * LANES);
      try {
        for (int c = 0; c < channels; c++) pivots[c] = x.get(PanamaBatchNormSupport.FLOAT_LE, xOffset + 4L * c * inner);
        channelsFirst(x, xOffset, outer, channels, inner, mean, variance, pivots);
        ScalarBatchNormSupport.addPivots(pivots, 0, channels, 1, mean, meanResidual);
      } finally {
        Scratch.release(pivots);
      }
      ScalarBatchNormSupport.toVariance(variance, channels, (double) outer * inner);
    }
    redoNonFinite(x, xOffset, outer, channels, inner, mean, meanResidual, variance);
    return true;
  }

  // ---------------------------------------------------------------- channels-last

  /** {@code PanamaBatchNormSupport.momentsChannelsLast}: scratch {@code [pivot0 | pivot | S1 | S2 | mean | M2]}. */
  private static void channelsLast(MemorySegment x, long xOffset, int rows, int channels, float[] mean, float[] meanResidual,
                                   float[] variance) {
    int superWidth = PanamaBatchNormSupport.momentsWidth(channels, (long) rows * channels);
    boolean tail = superWidth < 0;
    int width = tail ? SPECIES.loopBound(channels) : superWidth;
    int rowsPerSuper = tail ? 1 : width / channels;
    int superRows = rows / rowsPerSuper;
    int positions = width + (tail ? LANES : 0);
    int restFrom = superRows * rowsPerSuper, restFloats = (rows - restFrom) * channels; // less than one super row
    // One borrow (two pooled arrays per call thrashed the pool: 1 KiB allocated per call): the rows that do not
    // fill a super row are copied after the positions' state.
    float[] s = Scratch.borrow(6 * positions + restFloats);
    try {
      if (superRows > 0) {
        blocks(x, xOffset, superRows, rowsPerSuper * channels, width, tail ? channels - LANES : -1, positions, s);
      }
      // The fold reads x only for the rows that do not fill a super row: hand it those, copied, at the
      // element offset that puts row restFrom at s[6 * positions].
      MemorySegment.copy(x, PanamaBatchNormSupport.FLOAT_LE, xOffset + 4L * restFrom * channels, s, 6 * positions, restFloats);
      PanamaBatchNormSupport.foldPositions(s, 6 * positions - restFrom * channels, rows, channels, superRows, rowsPerSuper, width,
          tail, positions, s, mean, meanResidual, variance);
    } finally {
      Scratch.release(s);
    }
  }

  /** {@code momentsBlocks} with {@code stride} converted to bytes once. */
  private static void blocks(MemorySegment x, long xOffset, int superRows, int stride, int width, int tailAt, int P, float[] s) {
    long strideBytes = 4L * stride;
    int k = Integer.highestOneBit(Math.min(8, superRows));
    if ((long) superRows * stride <= PanamaBatchNormSupport.SHORT_CALL_FLOATS) { // short calls: as vectors (firstPivotVector)
      for (int c = 0; c < width; c += LANES) firstPivotVector(x, xOffset + 4L * c, strideBytes, k, s, c);
      if (tailAt >= 0) firstPivotVector(x, xOffset + 4L * tailAt, strideBytes, k, s, width);
    } else {
      for (int c = 0; c < width; c += LANES) firstPivot(x, xOffset + 4L * c, strideBytes, k, s, c);
      if (tailAt >= 0) firstPivot(x, xOffset + 4L * tailAt, strideBytes, k, s, width);
    }
    System.arraycopy(s, 0, s, P, P);
    java.util.Arrays.fill(s, 2 * P, 4 * P, 0f);
    int blockRows = Math.min(PanamaBatchNormSupport.MAX_BLOCK_ROWS,
        Math.max(PanamaBatchNormSupport.MIN_BLOCK_ROWS, PanamaBatchNormSupport.ONE_PASS_BLOCK_FLOATS / width));
    for (int b0 = 0; b0 < superRows; b0 += blockRows) {
      int n = Math.min(blockRows, superRows - b0);
      long base = xOffset + strideBytes * b0;
      accumulateBlock(x, base, strideBytes, n, width, tailAt, P, s);
      blockMoments(x, base, strideBytes, n, width, tailAt, P, s);
      PanamaBatchNormSupport.mergeBlocks(s, P, n, b0);
    }
  }

  /**
   * One vector position's first pivot in scalar Java, as PanamaBatchNormSupport.firstPivots (same float operations per
   * lane as {@code x.mul(scale).add(sum)} from zero, so the same bits): it runs a few times a call, so on a large
   * tensor's few calls the Vector API form stayed in C1, where vectors are objects (NHWC 64x56x56x64 Segment training
   * forward: 51 KB a call under -prof gc).
   */
  private static void firstPivot(MemorySegment x, long at, long stride, int rows, float[] s, int pos) {
    float scale = 1f / rows;
    for (int c = 0; c < LANES; c++) s[pos + c] = x.get(PanamaBatchNormSupport.FLOAT_LE, at + 4L * c) * scale + 0f;
    for (int r = 1; r < rows; r++) {
      long p = at + r * stride;
      for (int c = 0; c < LANES; c++) s[pos + c] = x.get(PanamaBatchNormSupport.FLOAT_LE, p + 4L * c) * scale + s[pos + c];
    }
  }

  /**
   * {@link #firstPivot} as one vector (the same float operations per lane, {@code x * scale} rounded then added, so the
   * same bits), as the array kernel's {@code firstPivotsVector} for short calls: the scalar form reads up to 8 rows of
   * every position with a checked {@code get} per float (2176 on NHWC 7x13x13x17's 272-float super rows), a third of
   * that call's native statistics (docs/performance-history.md, fifteenth session). Long calls keep the scalar form
   * (C1, see {@link #firstPivot}).
   */
  private static void firstPivotVector(MemorySegment x, long at, long stride, int rows, float[] s, int pos) {
    float scale = 1f / rows;
    FloatVector sum = FloatVector.fromMemorySegment(SPECIES, x, at, LE).mul(scale).add(0f);
    long p = at;
    for (int r = 1; r < rows; r++) {
      p += stride;
      sum = FloatVector.fromMemorySegment(SPECIES, x, p, LE).mul(scale).add(sum);
    }
    sum.intoArray(s, pos);
  }

  /** The hot loop: S1 and S2 of {@code n} super rows, four rows a quarter of the block apart per step (the array kernel's order), stride in bytes. */
  private static void accumulateBlock(MemorySegment x, long base, long stride, int n, int width, int tailAt, int P, float[] s) {
    int q = n / 4;
    long quarter = q * stride, p = base;
    int positions = tailAt >= 0 ? width + LANES : width; // the tail vector's sums sit at position width
    for (int r = 0; r < q; r++, p += stride) {
      // The step's four rows at absolute offsets from four row bases, not through a slice of the step as until the
      // twenty-fifth session: whether C2 scalar-replaces a slice depends on whether it inlines the JDK's asSlice chain,
      // which asSlice's own profile decides ("low call site frequency" under -XX:CompileCommand=PrintInlining). In fresh
      // JVMs running nothing but one native training forward, 4 of 16 allocated 40 B a step (NC 256x1024: 2560 B a call,
      // 1024x1000: 10240 B), as did every channels-last shape after SegmentMixAllocationTest's mix in reverse order
      // (82 KB a call on NC 8192x256). The price, SegmentCheck ratio -Dops=statistics, four alternating runs each over
      // six channels-last shapes: native/float[] mean 1.066 against 1.034 with the slice (NC 4096x100 1.09 against 1.01,
      // NC 256x1024 1.28 against 1.21; NC 2000x1000 0.97 against 1.02, NHWC 64x56x56x64 1.03 against 1.07).
      long p1 = p + quarter, p2 = p1 + quarter, p3 = p2 + quarter;
      for (int c = 0; c < positions; c += LANES) {
        long at = 4L * (c < width ? c : tailAt);
        FloatVector k = FloatVector.fromArray(SPECIES, s, P + c);
        FloatVector d0 = FloatVector.fromMemorySegment(SPECIES, x, p + at, LE).sub(k);
        FloatVector d1 = FloatVector.fromMemorySegment(SPECIES, x, p1 + at, LE).sub(k);
        FloatVector d2 = FloatVector.fromMemorySegment(SPECIES, x, p2 + at, LE).sub(k);
        FloatVector d3 = FloatVector.fromMemorySegment(SPECIES, x, p3 + at, LE).sub(k);
        FloatVector.fromArray(SPECIES, s, 2 * P + c).add(d0.add(d1).add(d2.add(d3))).intoArray(s, 2 * P + c);
        d3.fma(d3, d2.fma(d2, d1.fma(d1, d0.fma(d0, FloatVector.fromArray(SPECIES, s, 3 * P + c))))).intoArray(s, 3 * P + c);
      }
    }
    long e = base + 4 * quarter;
    for (int r = 4 * q; r < n; r++, e += stride) { // the last rows, one at a time
      for (int c = 0; c < width; c += LANES) accumulate1(x, e + 4L * c, s, c, P);
      if (tailAt >= 0) accumulate1(x, e + 4L * tailAt, s, width, P);
    }
  }

  private static void accumulate1(MemorySegment x, long at, float[] s, int pos, int P) {
    FloatVector d = FloatVector.fromMemorySegment(SPECIES, x, at, LE).sub(FloatVector.fromArray(SPECIES, s, P + pos));
    FloatVector.fromArray(SPECIES, s, 2 * P + pos).add(d).intoArray(s, 2 * P + pos);
    d.fma(d, FloatVector.fromArray(SPECIES, s, 3 * P + pos)).intoArray(s, 3 * P + pos);
  }

  /** {@code PanamaBatchNormSupport.blockMoments}: the block's S1, S2 to (mean - pivot0, M2), cancelled positions redone. */
  private static void blockMoments(MemorySegment x, long base, long stride, int n, int width, int tailAt, int P, float[] s) {
    float invN = 1f / n;
    for (int c = 0; c < P; c += LANES) {
      FloatVector s1 = FloatVector.fromArray(SPECIES, s, 2 * P + c), s2 = FloatVector.fromArray(SPECIES, s, 3 * P + c);
      FloatVector shift = s1.mul(invN);
      FloatVector m2 = s2.sub(s1.mul(shift));
      if (s2.compare(VectorOperators.GT, m2.mul(PanamaBatchNormSupport.CANCELLATION_LIMIT)).anyTrue()) {
        twoPassPosition(x, base + 4L * (c < width ? c : tailAt), stride, n, s, c, P);
        continue;
      }
      FloatVector.fromArray(SPECIES, s, P + c).sub(FloatVector.fromArray(SPECIES, s, c)).add(shift).intoArray(s, 2 * P + c);
      m2.intoArray(s, 3 * P + c);
    }
  }

  /** The cold two-pass redo of one vector position ({@code PanamaBatchNormSupport.twoPassPosition}). */
  private static void twoPassPosition(MemorySegment x, long start, long stride, int n, float[] s, int c, int P) {
    float invN = 1f / n;
    FloatVector k0 = FloatVector.fromArray(SPECIES, s, c);
    FloatVector sum = FloatVector.zero(SPECIES);
    long p = start;
    for (int r = 0; r < n; r++, p += stride) sum = sum.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE).sub(k0));
    FloatVector center = k0.add(sum.mul(invN));
    FloatVector sumD = FloatVector.zero(SPECIES), sumD2 = FloatVector.zero(SPECIES);
    p = start;
    for (int r = 0; r < n; r++, p += stride) {
      FloatVector d = FloatVector.fromMemorySegment(SPECIES, x, p, LE).sub(center);
      sumD = sumD.add(d);
      sumD2 = d.fma(d, sumD2);
    }
    FloatVector shift = sumD.mul(invN);
    center.sub(k0).add(shift).intoArray(s, 2 * P + c);
    sumD2.sub(sumD.mul(shift)).max(FloatVector.zero(SPECIES)).intoArray(s, 3 * P + c);
  }

  // ---------------------------------------------------------------- channels-first

  /** {@code PanamaBatchNormSupport.momentsChannelsFirst}: means relative to each channel's first element, and M2. */
  private static void channelsFirst(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean, float[] m2,
                                    float[] pivots) {
    long planeBytes = 4L * inner;
    if (bySample(outer, channels, inner)) {
      for (int o = 0; o < outer; o++) samplePlanes(x, xOffset + planeBytes * channels * o, channels, inner, o, mean, m2, pivots, channels + 4 * LANES);
      return;
    }
    for (int o = 0; o < outer; o++) {
      int c = 0;
      if (PanamaNativeShortPlanes.ownLoops(inner)) { // short planes: a body of their own (planePairShort says why)
        for (; c + 1 < channels; c += 2) {
          planePairShort(x, xOffset + planeBytes * ((long) o * channels + c), planeBytes, inner, c, pivots, mean, m2, o * inner, pivots,
              channels + 4 * LANES);
        }
      } else if (inner < PAIR_INNER) {
        for (; c + 1 < channels; c += 2) {
          planePair(x, xOffset + planeBytes * ((long) o * channels + c), planeBytes, inner, c, pivots, mean, m2, o * inner, pivots, channels);
        }
      }
      for (; c < channels; c++) {
        plane(x, xOffset + planeBytes * ((long) o * channels + c), inner, c, pivots[c], mean, m2, o, pivots, channels + 4 * LANES);
      }
    }
  }

  /**
   * Whether {@link #channelsFirst} reads one sample at a time through {@link #samplePlanes}: tensors past L2 (more than
   * {@link PanamaBatchNormSupport#STREAM_MIN_FLOATS}) whose planes have at least {@link #SAMPLE_MIN_VECTORS} vectors.
   * In L2 the calls are bound by each plane's fixed cost (loop entries, lane sums, tails, the merge), which the pairs
   * ({@link #planePairShort}, {@link #planePair}) share between two planes; on planes of a few vectors too (NCHW
   * 32x7x7x2048's 49 floats). Past L2 the plane-at-a-time walk of the {@code float[]} kernel is the faster one.
   */
  private static boolean bySample(int outer, int channels, int inner) {
    return inner >= SAMPLE_MIN_VECTORS * LANES && (long) outer * channels * inner > PanamaBatchNormSupport.STREAM_MIN_FLOATS;
  }

  /** Planes of fewer vectors than this keep the pairs ({@link #bySample}). */
  private static final int SAMPLE_MIN_VECTORS = 8;

  /**
   * The {@code channels} planes of sample {@code o} (byte offset {@code at}, {@code inner} floats each), one plane
   * after the other, each block as {@code PanamaBatchNormSupport.momentsChannelsFirst} does it (the sum of
   * {@code sumContiguous}, then the two-accumulator deviation pass, the scalar tails, Chan's merge): the same
   * operations in the same order, so the same bits.
   *
   * <p>Why this form (session 17, Intel Xeon, 2 MiB L2): on NCHW 32x14x14x256 (196-float planes) the pairs
   * ({@link #planePairShort}) ran at 1.30-1.37x the {@code float[]} time in the ten-shape {@code SegmentCheck} JVM,
   * and 1.18 even with {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0}. Here every load is checked against
   * the one loop-invariant size of {@code x} (until the twenty-fifth session through a slice of the sample, made once a
   * sample: in fresh JVMs running only one call C2 did not always inline the JDK's asSlice chain, and the slice was
   * allocated, 40 B a sample; {@link #plane}'s and {@link #sumContiguous}'s slice per block likewise), and the
   * vector loops exit on {@code !=} with byte offsets as induction variables, so C2 makes no counted loop (no
   * long-range-check nest, pre-, main and post-loop set up per plane: {@link #plane}) and keeps one compare per load.
   * Non-counted loops are not unrolled, so the profile of another plane length cannot reshape them
   * ({@link PanamaNativeShortPlanes#ownLoops}). The scalar tail is read from a copy of the block's last vector
   * ({@link #copiesTail}) at {@code t[tail]}.
   */
  private static void samplePlanes(MemorySegment x, long at, int channels, int inner, int o, float[] mean, float[] m2,
                                   float[] pivots, int tail) {
    float[] t = pivots;
    for (int c = 0; c < channels; c++) {
      for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
        int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0);
        long base = at + 4L * ((long) c * inner + i0);
        int vectorBound = SPECIES.loopBound(n);
        long p = base, tileEnd = base + 4L * (n - n % TILE), vectorEnd = base + 4L * vectorBound;
        long pairEnd = base + 4L * (n - n % (2 * LANES));
        FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = FloatVector.zero(SPECIES), acc2 = FloatVector.zero(SPECIES), acc3 = FloatVector.zero(SPECIES);
        for (; p != tileEnd; p += 4L * TILE) {
          acc0 = acc0.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE));
          acc1 = acc1.add(FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE));
          acc2 = acc2.add(FloatVector.fromMemorySegment(SPECIES, x, p + 8L * LANES, LE));
          acc3 = acc3.add(FloatVector.fromMemorySegment(SPECIES, x, p + 12L * LANES, LE));
        }
        for (; p != vectorEnd; p += 4L * LANES) acc0 = acc0.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE));
        float sum = PanamaBatchNormSupport.sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
        boolean copied = copiesTail(n);
        int from = tail - (n - LANES); // t[from + i] is element i of the block when copied
        if (copied) {
          FloatVector.fromMemorySegment(SPECIES, x, base + 4L * (n - LANES), LE).intoArray(t, tail);
          for (int i = vectorBound; i < n; i++) sum += t[from + i]; // scalar tail
        } else {
          for (int i = vectorBound; i < n; i++) sum += x.get(PanamaBatchNormSupport.FLOAT_LE, base + 4L * i); // scalar tail
        }
        float center = sum / n;
        FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
        FloatVector d0 = FloatVector.zero(SPECIES), d1 = FloatVector.zero(SPECIES), q0 = FloatVector.zero(SPECIES), q1 = FloatVector.zero(SPECIES);
        for (p = base; p != pairEnd; p += 8L * LANES) {
          FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, p, LE).sub(vCenter);
          FloatVector e1 = FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE).sub(vCenter);
          d0 = d0.add(e0);
          d1 = d1.add(e1);
          q0 = e0.fma(e0, q0);
          q1 = e1.fma(e1, q1);
        }
        for (; p != vectorEnd; p += 4L * LANES) {
          FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, p, LE).sub(vCenter);
          d0 = d0.add(e0);
          q0 = e0.fma(e0, q0);
        }
        long sums = PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1)); // sumD high, sumD2 low
        float sumD = Float.intBitsToFloat((int) (sums >>> 32)), sumD2 = Float.intBitsToFloat((int) sums);
        for (int i = vectorBound; i < n; i++) { // scalar tail
          float e = (copied ? t[from + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, base + 4L * i)) - center;
          sumD += e;
          sumD2 += e * e;
        }
        ScalarBatchNormSupport.mergeBlock(mean, m2, c, (center - pivots[c]) + sumD / n, Math.max(0f, sumD2 - sumD * (sumD / n)), n,
            o * inner + i0);
      }
    }
  }

  /**
   * One plane, by blocks. A method of its own: inlined beside {@link #planePair}, its segment loads pushed C2
   * past its inlining node budget and a vector was boxed per plane.
   *
   * <p>The vector loops here, in {@link #sumContiguous}, {@link #pairSums} and {@link #pairDeviations} exit on
   * equality ({@code i != bound}; every bound is a multiple of the step from where its loop starts), so C2 does not
   * make them counted loops. A counted loop over a segment gets, at every entry, the long-range-check loop nest (the
   * Vector API checks {@code long} offsets), a pre-loop, an unrolled main loop and a post-loop
   * ({@link PanamaNativeShortPlanes#ownLoops}); on 672-float planes (NCHW 8x3x224x224 as N x H x W x C: 42 vectors)
   * that set-up cost more than the bounds check the non-counted loop keeps per vector, and on 3136-float planes
   * (NCHW 64x56x56x64) too. Same operations in the same order, so the same bits. {@code SegmentCheck ratio}, ten
   * shapes, segment/{@code float[]}, session 14 (docs/performance-history.md): NCHW 64x56x56x64 statistics 1.00-1.24 to
   * 0.89-0.94, NCHW 8x3x224x224 1.16-1.25 to 1.07-1.16. A standalone copy of the pair sums on 672-float planes (one
   * JVM, alternating): 0.76 of the {@code float[]} time counted, 0.59 non-counted, 0.63 with a {@code long} loop index.
   */
  private static void plane(MemorySegment x, long planeAt, int inner, int c, float pivot, float[] mean, float[] m2, int o,
                            float[] t, int tails) {
    for (int i0 = 0; i0 < inner; i0 += Blocking.BLOCK_FLOATS) {
      int n = Math.min(Blocking.BLOCK_FLOATS, inner - i0);
      long base = planeAt + 4L * i0;
      float center = sumContiguous(x, base, n, t, tails) / n;
      boolean copied = copiesTail(n);
      int from = tails - (n - LANES);
      FloatVector vCenter = FloatVector.broadcast(SPECIES, center);
      FloatVector d0 = FloatVector.zero(SPECIES), d1 = FloatVector.zero(SPECIES);
      FloatVector q0 = FloatVector.zero(SPECIES), q1 = FloatVector.zero(SPECIES);
      int upperBound = n - n % (2 * LANES);
      int i = 0;
      for (; i != upperBound; i += 2 * LANES) {
        FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, base + 4L * i, LE).sub(vCenter);
        FloatVector e1 = FloatVector.fromMemorySegment(SPECIES, x, base + 4L * (i + LANES), LE).sub(vCenter);
        d0 = d0.add(e0);
        d1 = d1.add(e1);
        q0 = e0.fma(e0, q0);
        q1 = e1.fma(e1, q1);
      }
      for (; i != SPECIES.loopBound(n); i += LANES) {
        FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, base + 4L * i, LE).sub(vCenter);
        d0 = d0.add(e0);
        q0 = e0.fma(e0, q0);
      }
      float sumD = PanamaBatchNormSupport.sumLanes(d0.add(d1));
      float sumD2 = PanamaBatchNormSupport.sumLanes(q0.add(q1));
      for (; i < n; i++) { // scalar tail
        float e = (copied ? t[from + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, base + 4L * i)) - center;
        sumD += e;
        sumD2 += e * e;
      }
      ScalarBatchNormSupport.mergeBlock(mean, m2, c, (center - pivot) + sumD / n,
          Math.max(0f, sumD2 - sumD * (sumD / n)), n, o * inner + i0);
    }
  }

  /**
   * Planes shorter than this go two at a time ({@link #planePair}). Each loop over a plane pays the segment
   * checks (bounds and session) that C2 hoists out of the loop once per entry; on short planes (NCHW
   * 32x14x14x256: 196 floats, 12 vectors) those entries, five loops per plane, cost 1.3-1.5x the
   * {@code float[]} time. Two planes per loop halve them. Those planes now take planePairShort
   * ({@link PanamaNativeShortPlanes#ownLoops}: under 512 floats at 16 lanes, 256 at 8), so at 16 lanes no plane reaches
   * this route. It was 1024 until session 15: pairs of 512-1023-float planes ran far slower than one plane at a time
   * ({@link #plane}) on the AMD EPYC. {@code SegmentCheck ratio -Dops=statistics}, one JVM per bound, alternating, two
   * runs each (04:49-04:51 UTC, load ~5), segment/{@code float[]} with 1024 / with 512: NCHW:4x1x1000x1000 (1000-float
   * planes) 1.753, 1.656 / 1.161, 1.030; NCHW:8x3x224x224 (672) 1.232, 1.164 / 1.024, 1.049.
   */
  private static final int PAIR_INNER = 512;

  /**
   * The planes at byte offsets {@code a} and {@code a + planeBytes} (channels c and c + 1, {@code n} floats
   * each, one block) in the same loops: each plane keeps its own accumulators and sees exactly the
   * single-plane arithmetic ({@link #sumContiguous}, then the deviation pass), so the same bits.
   */
  private static void planePair(MemorySegment x, long a, long planeBytes, int n, int c, float[] pivots, float[] mean, float[] m2,
                                int done, float[] t, int at) {
    // The vector loops are separate methods that leave their accumulators in t; the lane sums and scalar tails
    // are here. In one body, or with the lane sums inside, the segment loads used up C2's inlining node budget
    // (NodeCountInliningCutoff at sumLanes) and every vector was boxed (6 MB per call on NCHW 32x7x7x2048).
    long b = a + planeBytes;
    int vectorBound = SPECIES.loopBound(n);
    // Scalar tails from a copy of each plane's last vector (t[tails], t[tails + LANES]; copiesTail): same values, same order.
    int tails = at + 4 * LANES, from = tails - (n - LANES);
    boolean copied = copiesTail(n);
    if (copied) {
      FloatVector.fromMemorySegment(SPECIES, x, a + 4L * (n - LANES), LE).intoArray(t, tails);
      FloatVector.fromMemorySegment(SPECIES, x, b + 4L * (n - LANES), LE).intoArray(t, tails + LANES);
    }
    pairSums(x, a, b, n, t, at);
    float sa = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at));
    float sb = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at + LANES));
    for (int i = vectorBound; i < n; i++) { // scalar tail
      sa += copied ? t[from + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, a + 4L * i);
      sb += copied ? t[from + LANES + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, b + 4L * i);
    }
    float ca = sa / n, cb = sb / n;
    pairDeviations(x, a, b, n, ca, cb, t, at);
    float sumDa = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at));
    float sumD2a = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at + LANES));
    float sumDb = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at + 2 * LANES));
    float sumD2b = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, t, at + 3 * LANES));
    for (int i = vectorBound; i < n; i++) { // scalar tail
      float e = (copied ? t[from + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, a + 4L * i)) - ca;
      sumDa += e;
      sumD2a += e * e;
      float f = (copied ? t[from + LANES + i] : x.get(PanamaBatchNormSupport.FLOAT_LE, b + 4L * i)) - cb;
      sumDb += f;
      sumD2b += f * f;
    }
    ScalarBatchNormSupport.mergeBlock(mean, m2, c, (ca - pivots[c]) + sumDa / n, Math.max(0f, sumD2a - sumDa * (sumDa / n)), n, done);
    ScalarBatchNormSupport.mergeBlock(mean, m2, c + 1, (cb - pivots[c + 1]) + sumDb / n, Math.max(0f, sumD2b - sumDb * (sumDb / n)), n,
        done);
  }

  /** The vector part of {@link #sumContiguous} for the planes at {@code a} and {@code b}: their accumulators, combined, at t[at] and t[at + LANES]. */
  private static void pairSums(MemorySegment planes, long a, long b, int n, float[] t, int at) {
    // Both planes through one slice from offset 0 (made here, in the loop's own method, so it is scalar-replaced):
    // the bounds checks are against the slice's size and hoisted at a cheaper loop entry
    // (PanamaBatchNormSupport.normalizeChannelsFirstNative).
    MemorySegment x = planes.asSlice(a, b - a + 4L * n);
    long bs = b - a; // the second plane from the slice's start (the first is at 0)
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = FloatVector.zero(SPECIES), a2 = FloatVector.zero(SPECIES), a3 = FloatVector.zero(SPECIES);
    FloatVector b0 = FloatVector.zero(SPECIES), b1 = FloatVector.zero(SPECIES), b2 = FloatVector.zero(SPECIES), b3 = FloatVector.zero(SPECIES);
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i != upperBound; i += TILE) {
      long p = 4L * i;
      a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE));
      a1 = a1.add(FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE));
      a2 = a2.add(FloatVector.fromMemorySegment(SPECIES, x, p + 8L * LANES, LE));
      a3 = a3.add(FloatVector.fromMemorySegment(SPECIES, x, p + 12L * LANES, LE));
      b0 = b0.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p, LE));
      b1 = b1.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 4L * LANES, LE));
      b2 = b2.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 8L * LANES, LE));
      b3 = b3.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 12L * LANES, LE));
    }
    for (; i != SPECIES.loopBound(n); i += LANES) {
      a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, x, 4L * i, LE));
      b0 = b0.add(FloatVector.fromMemorySegment(SPECIES, x, bs + 4L * i, LE));
    }
    a0.add(a1).add(a2.add(a3)).intoArray(t, at);
    b0.add(b1).add(b2.add(b3)).intoArray(t, at + LANES);
  }

  /** The vector part of {@link #channelsFirst}'s deviation pass for both planes: from t[at], [sumD a | sumD2 a | sumD b | sumD2 b], one vector each. */
  private static void pairDeviations(MemorySegment planes, long a, long b, int n, float ca, float cb, float[] t, int at) {
    MemorySegment x = planes.asSlice(a, b - a + 4L * n); // as in pairSums
    long bs = b - a; // the second plane from the slice's start (the first is at 0)
    FloatVector va = FloatVector.broadcast(SPECIES, ca), vb = FloatVector.broadcast(SPECIES, cb);
    FloatVector da0 = FloatVector.zero(SPECIES), da1 = FloatVector.zero(SPECIES), qa0 = FloatVector.zero(SPECIES), qa1 = FloatVector.zero(SPECIES);
    FloatVector db0 = FloatVector.zero(SPECIES), db1 = FloatVector.zero(SPECIES), qb0 = FloatVector.zero(SPECIES), qb1 = FloatVector.zero(SPECIES);
    int upperBound = n - n % (2 * LANES);
    int i = 0;
    for (; i != upperBound; i += 2 * LANES) {
      long p = 4L * i;
      FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, p, LE).sub(va);
      FloatVector e1 = FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE).sub(va);
      FloatVector f0 = FloatVector.fromMemorySegment(SPECIES, x, bs + p, LE).sub(vb);
      FloatVector f1 = FloatVector.fromMemorySegment(SPECIES, x, bs + p + 4L * LANES, LE).sub(vb);
      da0 = da0.add(e0);
      da1 = da1.add(e1);
      qa0 = e0.fma(e0, qa0);
      qa1 = e1.fma(e1, qa1);
      db0 = db0.add(f0);
      db1 = db1.add(f1);
      qb0 = f0.fma(f0, qb0);
      qb1 = f1.fma(f1, qb1);
    }
    for (; i != SPECIES.loopBound(n); i += LANES) {
      FloatVector e0 = FloatVector.fromMemorySegment(SPECIES, x, 4L * i, LE).sub(va);
      FloatVector f0 = FloatVector.fromMemorySegment(SPECIES, x, bs + 4L * i, LE).sub(vb);
      da0 = da0.add(e0);
      qa0 = e0.fma(e0, qa0);
      db0 = db0.add(f0);
      qb0 = f0.fma(f0, qb0);
    }
    da0.add(da1).intoArray(t, at);
    qa0.add(qa1).intoArray(t, at + LANES);
    db0.add(db1).intoArray(t, at + 2 * LANES);
    qb0.add(qb1).intoArray(t, at + 3 * LANES);
  }

  /**
   * {@link #planePair} for planes of {@link PanamaNativeShortPlanes#ownLoops} length (one block each): the same
   * arithmetic in the same order, so the same bits, with less of the pair's own code. Split as planePair is (vector
   * loops that leave their accumulators in scratch, four lane sums one after the other, two calls of
   * {@code mergeBlock} that C2 left out of line at its inlining node budget, a counted scalar tail per pass), the
   * pair's own code cost as much as its vector loops on 196-float planes (NCHW 32x14x14x256: 7-9% of the samples
   * against 9-10%, {@code perf record -e cpu-clock}, eleventh session). Here each pass is one method that keeps its
   * accumulators in registers and returns the packed lane sums
   * ({@link PanamaBatchNormSupport#sumLanes(FloatVector, FloatVector)}: both planes' trees interleaved), and the
   * deviation pass ends the pair (tails and merges). Not one body: with both passes' 18 segment loads in one method,
   * C2 reached its inlining node budget (NodeCountInliningCutoff) at the second lane sum and boxed the vectors
   * (384 B a pair: 1.5 MB a call on NCHW 32x14x14x256, ThreadMXBean). Methods of their own per regime also keep
   * their own profiles ({@link PanamaNativeShortPlanes#ownLoops}). Measured (twelfth session): the native statistics
   * of NCHW 32x14x14x256 went from 26.2% of the samples (planePair itself 12.3%) to 23.7%, against 22.6% and 22.4%
   * for the array kernel; {@code SegmentCheck ratio} medians of 5 and 7 alternating runs: NCHW 32x7x7x2048
   * statistics 1.048 to 0.998, NCHW 32x14x14x256 1.094 to 1.050; NCHW 7x13x13x17 (in cache, 8 of 17 channels
   * paired) moved with the shapes run before it in the JVM: about 3% slower after 32x14x14x256 or alone, 1.04-1.10 to
   * 0.93-0.95 in the ten-shape order (README, "How the kernels work").
   */
  private static void planePairShort(MemorySegment x, long a, long planeBytes, int n, int c, float[] pivots, float[] mean,
                                     float[] m2, int done, float[] t, int tails) {
    long b = a + planeBytes;
    int vectorBound = SPECIES.loopBound(n);
    boolean copied = copiesTail(n); // scalar tails from a copy of each plane's last vector, t[tails] and t[tails + LANES]
    if (copied) {
      FloatVector.fromMemorySegment(SPECIES, x, a + 4L * (n - LANES), LE).intoArray(t, tails);
      FloatVector.fromMemorySegment(SPECIES, x, b + 4L * (n - LANES), LE).intoArray(t, tails + LANES);
    }
    int from = tails - (n - LANES); // t[from + i] is element i of the first plane's tail, t[from + LANES + i] the second's
    long sums = pairSumsShort(x, a, planeBytes, n);
    float sa = Float.intBitsToFloat((int) (sums >>> 32)), sb = Float.intBitsToFloat((int) sums); // sumLanes(a, b)'s packing
    if (copied) {
      for (int i = vectorBound; i < n; i++) { // scalar tail
        sa += t[from + i];
        sb += t[from + LANES + i];
      }
    } else {
      for (int i = vectorBound; i < n; i++) { // scalar tail
        sa += x.get(PanamaBatchNormSupport.FLOAT_LE, a + 4L * i);
        sb += x.get(PanamaBatchNormSupport.FLOAT_LE, b + 4L * i);
      }
    }
    pairDeviationsShort(x, a, planeBytes, n, sa / n, sb / n, c, pivots, mean, m2, done, t, copied ? from : -1);
  }

  /** {@link #pairSums} for {@link #planePairShort}: the two planes' vector sums, lane-summed, packed (first plane high). */
  private static long pairSumsShort(MemorySegment planes, long a, long planeBytes, int n) {
    MemorySegment x = planes.asSlice(a, planeBytes + 4L * n); // both planes, addressed from 0 (as pairSums)
    long bs = planeBytes; // the second plane from the slice's start
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = FloatVector.zero(SPECIES), a2 = FloatVector.zero(SPECIES), a3 = FloatVector.zero(SPECIES);
    FloatVector b0 = FloatVector.zero(SPECIES), b1 = FloatVector.zero(SPECIES), b2 = FloatVector.zero(SPECIES), b3 = FloatVector.zero(SPECIES);
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i < upperBound; i += TILE) {
      long p = 4L * i;
      a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE));
      a1 = a1.add(FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE));
      a2 = a2.add(FloatVector.fromMemorySegment(SPECIES, x, p + 8L * LANES, LE));
      a3 = a3.add(FloatVector.fromMemorySegment(SPECIES, x, p + 12L * LANES, LE));
      b0 = b0.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p, LE));
      b1 = b1.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 4L * LANES, LE));
      b2 = b2.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 8L * LANES, LE));
      b3 = b3.add(FloatVector.fromMemorySegment(SPECIES, x, bs + p + 12L * LANES, LE));
    }
    for (; i < SPECIES.loopBound(n); i += LANES) {
      a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, x, 4L * i, LE));
      b0 = b0.add(FloatVector.fromMemorySegment(SPECIES, x, bs + 4L * i, LE));
    }
    return PanamaBatchNormSupport.sumLanes(a0.add(a1).add(a2.add(a3)), b0.add(b1).add(b2.add(b3)));
  }

  /**
   * {@link #pairDeviations} and the rest of {@link #planePair} for {@link #planePairShort}: the deviation pass about
   * centers {@code ca}, {@code cb}, its lane sums and scalar tails (from {@code t[from + i]}, or the segment when
   * {@code from < 0}), and Chan's merge of both planes into channels c and c + 1.
   */
  private static void pairDeviationsShort(MemorySegment planes, long a, long planeBytes, int n, float ca, float cb, int c,
                                          float[] pivots, float[] mean, float[] m2, int done, float[] t, int from) {
    MemorySegment x = planes.asSlice(a, planeBytes + 4L * n); // as in pairSumsShort
    long bs = planeBytes; // the second plane from the slice's start
    FloatVector va = FloatVector.broadcast(SPECIES, ca), vb = FloatVector.broadcast(SPECIES, cb);
    FloatVector da0 = FloatVector.zero(SPECIES), da1 = FloatVector.zero(SPECIES), qa0 = FloatVector.zero(SPECIES), qa1 = FloatVector.zero(SPECIES);
    FloatVector db0 = FloatVector.zero(SPECIES), db1 = FloatVector.zero(SPECIES), qb0 = FloatVector.zero(SPECIES), qb1 = FloatVector.zero(SPECIES);
    int vectorBound = SPECIES.loopBound(n);
    // One vector of each plane a step, the accumulators swapping roles every step: vector k goes to accumulator k % 2,
    // which is the array kernel's two-vector loop and its one-vector remainder (vector upperBound / LANES, even, to
    // accumulator 0). After an odd number of steps the roles are swapped, and the final d0.add(d1) is then d1.add(d0):
    // the same value (addition commutes; NaN channels are redone in double). One load per plane in the method instead
    // of three: with three, C2 reached its inlining node budget at the second lane sum on 49-float planes (both loops
    // taken) and boxed the vectors (6 MB a call on NCHW 32x7x7x2048).
    int i = 0;
    for (; i < vectorBound; i += LANES) {
      FloatVector e = FloatVector.fromMemorySegment(SPECIES, x, 4L * i, LE).sub(va);
      FloatVector f = FloatVector.fromMemorySegment(SPECIES, x, bs + 4L * i, LE).sub(vb);
      FloatVector da = da0.add(e), qa = e.fma(e, qa0), db = db0.add(f), qb = f.fma(f, qb0);
      da0 = da1;
      qa0 = qa1;
      db0 = db1;
      qb0 = qb1;
      da1 = da;
      qa1 = qa;
      db1 = db;
      qb1 = qb;
    }
    long sumD = PanamaBatchNormSupport.sumLanes(da0.add(da1), db0.add(db1));
    long sumD2 = PanamaBatchNormSupport.sumLanes(qa0.add(qa1), qb0.add(qb1));
    float sumDa = Float.intBitsToFloat((int) (sumD >>> 32)), sumDb = Float.intBitsToFloat((int) sumD);
    float sumD2a = Float.intBitsToFloat((int) (sumD2 >>> 32)), sumD2b = Float.intBitsToFloat((int) sumD2);
    if (from >= 0) {
      for (i = vectorBound; i < n; i++) { // scalar tail
        float e = t[from + i] - ca;
        sumDa += e;
        sumD2a += e * e;
        float f = t[from + LANES + i] - cb;
        sumDb += f;
        sumD2b += f * f;
      }
    } else {
      for (i = vectorBound; i < n; i++) { // scalar tail
        float e = x.get(PanamaBatchNormSupport.FLOAT_LE, 4L * i) - ca;
        sumDa += e;
        sumD2a += e * e;
        float f = x.get(PanamaBatchNormSupport.FLOAT_LE, bs + 4L * i) - cb;
        sumDb += f;
        sumD2b += f * f;
      }
    }
    ScalarBatchNormSupport.mergeBlock(mean, m2, c, (ca - pivots[c]) + sumDa / n, Math.max(0f, sumD2a - sumDa * (sumDa / n)), n, done);
    ScalarBatchNormSupport.mergeBlock(mean, m2, c + 1, (cb - pivots[c + 1]) + sumDb / n, Math.max(0f, sumD2b - sumDb * (sumDb / n)), n,
        done);
  }

  /**
   * Whether a plane (block) of {@code n} floats reads its scalar tail from a copy of its last vector: when it
   * has a whole vector to copy it from and a tail of at least {@link #COPIED_TAIL} floats. Segment gets pay the
   * bounds and session checks per element, and both passes read the tail (NCHW 13x13: 9 floats per plane); for
   * a one-float tail (7x7 planes) the vector store and reload cost more than the two gets.
   */
  private static boolean copiesTail(int n) {
    return n > LANES && n % LANES >= COPIED_TAIL;
  }

  private static final int COPIED_TAIL = 4;

  /**
   * {@code PanamaBatchNormSupport.sumContiguous} on native memory; a tail is read from its plane's last vector,
   * copied to {@code t[tails]} ({@link #copiesTail}), where the caller's deviation pass reads it again.
   */
  private static float sumContiguous(MemorySegment x, long base, int n, float[] t, int tails) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = FloatVector.zero(SPECIES), acc2 = FloatVector.zero(SPECIES), acc3 = FloatVector.zero(SPECIES);
    int upperBound = n - n % TILE;
    int i = 0;
    for (; i != upperBound; i += TILE) {
      long p = base + 4L * i;
      acc0 = acc0.add(FloatVector.fromMemorySegment(SPECIES, x, p, LE));
      acc1 = acc1.add(FloatVector.fromMemorySegment(SPECIES, x, p + 4L * LANES, LE));
      acc2 = acc2.add(FloatVector.fromMemorySegment(SPECIES, x, p + 8L * LANES, LE));
      acc3 = acc3.add(FloatVector.fromMemorySegment(SPECIES, x, p + 12L * LANES, LE));
    }
    for (; i != SPECIES.loopBound(n); i += LANES) acc0 = acc0.add(FloatVector.fromMemorySegment(SPECIES, x, base + 4L * i, LE));
    float sum = PanamaBatchNormSupport.sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
    if (copiesTail(n)) {
      FloatVector.fromMemorySegment(SPECIES, x, base + 4L * (n - LANES), LE).intoArray(t, tails);
      for (int from = tails - (n - LANES); i < n; i++) sum += t[from + i]; // scalar tail
    }
    for (; i < n; i++) sum += x.get(PanamaBatchNormSupport.FLOAT_LE, base + 4L * i); // scalar tail
    return sum;
  }

  // ---------------------------------------------------------------- non-finite channels

  /**
   * {@code ScalarBatchNormSupport.redoNonFinite}: a channel whose float result is not finite is recomputed
   * in double by the array code, from the channel's data gathered into scratch as an
   * {@code [outer, 1, inner]} tensor (the same elements in the same order, so the same double sums).
   * A cold path: finite data of ordinary range never takes it.
   */
  private static void redoNonFinite(MemorySegment x, long xOffset, int outer, int channels, int inner, float[] mean,
                                    float[] meanResidual, float[] variance) {
    for (int c = 0; c < channels; c++) {
      if (Float.isFinite(mean[c]) && Float.isFinite(variance[c])) continue;
      float[] column = Scratch.borrow(outer * inner);
      try {
        for (int o = 0; o < outer; o++) {
          MemorySegment.copy(x, PanamaBatchNormSupport.FLOAT_LE, xOffset + 4L * ((long) o * channels + c) * inner, column, o * inner, inner);
        }
        float[] m = {mean[c]}, r = {0f}, v = {variance[c]};
        ScalarBatchNormSupport.redoNonFinite(column, 0, outer, 1, inner, m, r, v);
        mean[c] = m[0];
        variance[c] = v[0];
        if (meanResidual != null) meanResidual[c] = r[0];
      } finally {
        Scratch.release(column);
      }
    }
  }
}
