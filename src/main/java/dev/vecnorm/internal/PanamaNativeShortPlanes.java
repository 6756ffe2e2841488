package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Channels-first normalize on native memory for short planes (NCHW 7x7: 49 floats; up to {@link #MAX_INNER}),
 * with per-element coefficients so that each loop runs over many planes at once.
 *
 * <p>Why: a {@code fromMemorySegment}/{@code intoMemorySegment} loop pays the JDK's segment bounds and
 * liveness checks once per loop entry (C2 hoists them out of the loop, not out of the enclosing one).
 * The plane loop of {@link PanamaBatchNormSupport#normalizeNative} enters its loop once per plane, and on
 * planes of 3-13 vectors those entries cost 1.1-1.5x the {@code float[]} time; with
 * {@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0} the same loop ran at array speed. Pairing
 * planes and walking the slab position-major were both slower (docs/performance-history.md, "Native short planes:
 * what limits them and what was tried").
 *
 * <p>How: the channels are cut into groups of whole channels whose planes, contiguous in every sample,
 * make a run of at most {@link #RUN_FLOATS} floats. For each group the per-channel {@code mean}, alpha
 * and shift are expanded once per call into pooled scratch, {@code [mean | alpha | shift]} with one value
 * per element of the run (3 x 4 KiB at most, so it stays in L1), and every sample's run then goes
 * through one loop: the checks are paid once per run instead of once per plane. The expansion is
 * {@code 3 * channels * inner} stores per call against {@code outer * channels * inner} elements
 * streamed, so it is only taken from {@link #MIN_OUTER} samples on, and only on tensors beyond the caches
 * ({@link #MIN_FLOATS}).
 *
 * <p>Bits: every element is {@code fma(x - mean, alpha, shift)} with its channel's values, exactly the
 * plane loop's and the array kernel's arithmetic, so the same bits ({@code NativeShortPlanesTest}).
 */
final class PanamaNativeShortPlanes {
  private PanamaNativeShortPlanes() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /** Longest run of one channel group: 4 KiB of x, and 12 KiB of expanded coefficients (L1). 4096 (48 KiB, out of L1) was slower. */
  static final int RUN_FLOATS = 1024;

  /**
   * Planes up to this length (8 vectors of AVX-512) take this route. Past it the plane loop's entry costs are
   * small against the plane and the extra coefficient loads cost as much: NCHW 32x14x14x256 (196-float planes)
   * inference was 1.01-1.10 segment/float[] here against 0.98-1.04 for the plane loop, while NCHW 32x7x7x2048
   * (49) went from 1.02-1.69 to 0.98-1.08 (SegmentCheck ratio, alternating jars, load 3-14).
   */
  static final int MAX_INNER = 128;

  /** Fewer samples than this do not repay the expansion (three stores per element of one sample). */
  static final int MIN_OUTER = 4;

  /**
   * Smallest tensor (floats) that takes this route: 2 MiB of x, beyond L2 on the machines measured. The route
   * loads three coefficient vectors per data vector; that is free while the loop waits for memory, but on
   * tensors in cache it cost more than the per-plane checks it saves (NCHW 7x13x13x17 inference: 5.3-5.9 µs
   * against 3.5-4.7 µs for the plane loop, {@code SegmentCheck ratio}, load 3-14).
   */
  static final long MIN_FLOATS = 512 * 1024;

  /**
   * Whether planes of {@code inner} floats run the short-plane copies of the native plane loops
   * ({@code PanamaBatchNormSupport.normalizeShortPlanesNative}, {@code PanamaNativeMoments.pairSumsShort} and
   * {@code pairDeviationsShort}): fewer than {@link #OWN_LOOP_VECTORS} vectors. The native backward takes such planes
   * in memory order instead ({@code PanamaNativeBackward.backward}; its copies reducePlaneShort and applyPlanesShort
   * were removed in session 15, seg15c).
   *
   * <p>Why copies of the same code: C2 compiles a loop with the trip counts its method's profile has seen (one
   * profile per method, whatever calls it), and a segment loop compiled while long planes filled that profile ran
   * short planes slower than one compiled on short planes. In one JVM, NCHW 32x14x14x256 statistics went from
   * 0.96 segment/float[] run first to 1.21 after eight other shapes (NCHW 8x3x224x224's 672-float planes compiled
   * {@code pairSums} first); the {@code float[]} side moved far less, and the native loops' own samples
   * ({@code perf record -e cpu-clock} over that cell's rounds) grew by 73%. A method of its own per regime gives
   * each its own profile, as ATen keeps one kernel per regime. Bits: the same arithmetic in the same order, so the
   * same values.
   *
   * <p>The copies of normalize and of the fused backward (reduce and apply) also differ in loop form (eleventh
   * session): their vector loops exit on equality ({@code i != bound}, the bound a multiple of the step from where the
   * loop starts), so C2 does not make them counted loops. A counted loop over a segment is compiled (JDK 25,
   * {@code -XX:+PrintAssembly}) as a peeled first iteration, a long-range-check loop nest (segment offsets are
   * {@code long}), a pre-loop, a main loop unrolled four times and a post-loop, all set up afresh at every entry: about
   * 100 instructions per plane before the main loop of normalize, against about 65 for the array kernel's counted loop
   * and about 30 for the non-counted one, on planes of 10-12 vectors of five instructions each. The non-counted loop
   * keeps a bounds check per vector (one compare in normalize: x's and y's slices have the same offset and length) and
   * starts at once: a standalone copy of the NCHW 7x13x13x17 plane loop took 3.2 instead of 3.8 us a call (thread
   * CPU time). On the Intel Xeon (eleventh session) long planes kept counted loops: the same change to the
   * channels-last per-step loops (16-64 vectors) took NC 256x1024 statistics from 0.77-0.83 to 0.93-1.12
   * segment/float[], and to the statistics' pair loops (eight loads a step, each its own check) NCHW 32x14x14x256
   * statistics from 1.05-1.19 to 1.10-1.43 ({@code SegmentCheck ratio}, three runs each); both were dropped. On the
   * AMD EPYC (fourteenth session, seg14) the channels-first long-plane loops exit on equality too (PanamaNativeMoments
   * plane and pair loops, PanamaNativeBackward's plane loops, normalizePlanesNative): NCHW 64x56x56x64 statistics,
   * training forward and inference 1.00-1.24 to 0.86-0.94 segment/float[]; the channels-last loops stay counted.
   */
  static boolean ownLoops(int inner) {
    return inner < OWN_LOOP_VECTORS * LANES;
  }

  /** Planes of fewer vectors than this take the short-plane loop copies ({@link #ownLoops}): 512 floats on AVX-512. */
  static final int OWN_LOOP_VECTORS = 32;

  /**
   * Whether {@link #normalize} is the faster route for {@code [outer, channels, inner]}: never, on the AVX-512 machine
   * of the thirteenth session (AMD EPYC, 1 MiB L2 a core, 32 MiB L3), at 16 lanes or at 8 ({@code -XX:MaxVectorSize=32}),
   * in L3 or past it. Its three coefficient loads per data vector cost far more there than the per-plane segment checks
   * they save. {@code SegmentCheck ratio}, segment/{@code float[]} with the route / with the plane loop (an uncommitted
   * copy of this class with the route behind a property, ahead of the jar on the class path; one JVM per run, two runs
   * each, alternating, 00:41-00:42 UTC, load 13-17 from other engineers' builds): NCHW 32x7x7x2048 inference 1.83, 2.33 /
   * 1.04, 1.17 and training forward 1.36, 1.30 / 1.01, 0.99; the same at 8 lanes, inference 1.78, 1.84 / 0.92, 0.88
   * and training forward 1.24, 1.22 / 0.90, 0.87; inference on NCHW 128x7x7x1024 2.00 / 0.80 and 64x8x8x512 1.61 /
   * 0.89 (one run). On the Intel Xeon (AVX-512, 300 MiB L3) of the earlier sessions the route won (README, seg9's paragraph: NCHW
   * 128x7x7x512 training forward 0.95 against 1.39-1.44), so the code stays for a machine where it pays; the plane
   * loop ({@code normalizeShortPlanesNative}) serves these shapes now.
   */
  static boolean applies(int outer, int channels, int inner) {
    return ENABLED && inner <= MAX_INNER && outer >= MIN_OUTER && (long) outer * channels * inner >= MIN_FLOATS;
  }

  /**
   * Off: see {@link #applies}. With it off no call reaches {@link #normalize}, and {@code NativeShortPlanesTest}'s large
   * cases check the plane loop instead; turn it on to test the route again.
   */
  private static final boolean ENABLED = false;

  /**
   * y = fma(x - mean, alpha, shift) over {@code [outer, channels, inner]} floats at byte offsets
   * {@code xOffset}, {@code yOffset} of native segments; {@code coef} is {@code [alpha | shift]} per channel
   * ({@link Coefficients#forward}). y may be x (same address).
   */
  static void normalize(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int outer, int channels, int inner,
                        float[] mean, float[] coef) {
    int group = Math.max(1, RUN_FLOATS / inner); // whole channels per run
    int maxRun = Math.min(group, channels) * inner;
    float[] e = Scratch.borrow(3 * maxRun);
    try {
      for (int c0 = 0; c0 < channels; c0 += group) {
        int k = Math.min(group, channels - c0), n = k * inner;
        for (int c = 0; c < k; c++) {
          int at = c * inner;
          fill(e, at, inner, mean[c0 + c]);
          fill(e, maxRun + at, inner, coef[c0 + c]);
          fill(e, 2 * maxRun + at, inner, coef[channels + c0 + c]);
        }
        long runBytes = 4L * channels * inner;
        long first = 4L * c0 * inner;
        for (int o = 0; o < outer; o++) {
          long at = first + runBytes * o;
          run(x, xOffset + at, y, yOffset + at, n, e, maxRun);
        }
      }
    } finally {
      Scratch.release(e);
    }
  }

  /** {@code n} copies of v from {@code at}: vector stores, one overlapping last vector (Arrays.fill ran scalar here). */
  private static void fill(float[] e, int at, int n, float v) {
    FloatVector b = FloatVector.broadcast(SPECIES, v);
    int i = 0;
    for (; i < SPECIES.loopBound(n); i += LANES) b.intoArray(e, at + i);
    if (i < n && n >= LANES) {
      b.intoArray(e, at + n - LANES);
      return;
    }
    for (; i < n; i++) e[at + i] = v; // scalar tail
  }

  /**
   * One run of {@code n} floats with coefficients {@code e[i]}, {@code e[stride + i]}, {@code e[2 * stride + i]}.
   * The ragged end is one masked vector: the unmasked lanes see the same operations, so the same bits, and
   * only they are loaded and stored (y may be x). A nullable overlapping last vector, as in the plane loop,
   * was boxed here.
   */
  private static void run(MemorySegment x, long xs, MemorySegment y, long ys, int n, float[] e, int stride) {
    int vectorBound = SPECIES.loopBound(n);
    int i = 0;
    for (; i < vectorBound; i += LANES) {
      FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * i, LE).sub(FloatVector.fromArray(SPECIES, e, i))
          .fma(FloatVector.fromArray(SPECIES, e, stride + i), FloatVector.fromArray(SPECIES, e, 2 * stride + i))
          .intoMemorySegment(y, ys + 4L * i, LE);
    }
    if (i < n) { // one masked tail vector
      VectorMask<Float> m = SPECIES.indexInRange(i, n);
      FloatVector.fromMemorySegment(SPECIES, x, xs + 4L * i, LE, m).sub(FloatVector.fromArray(SPECIES, e, i, m))
          .fma(FloatVector.fromArray(SPECIES, e, stride + i, m), FloatVector.fromArray(SPECIES, e, 2 * stride + i, m))
          .intoMemorySegment(y, ys + 4L * i, LE, m);
    }
  }
}
