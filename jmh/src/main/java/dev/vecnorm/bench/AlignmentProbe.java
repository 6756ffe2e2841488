package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Where a tensor starts within a 64-byte cache line, and what that costs, in one JVM, outside JMH.
 *
 * <p>Java cannot place a {@code float[]}: its data starts after the array header (16 bytes with the default
 * object layout), and G1 puts an array of half a region or more (every memory-bound tensor) at a region's
 * start, so element 0 sits 16 bytes past a line and element 12 is the first on a line boundary. With 16
 * float lanes every vector load of such an array then spans two lines. A native segment from
 * {@code Arena.allocate(bytes, 64)} starts on a line. This probe times the same work at several starting
 * positions, alternating them round by round (order flipped each round) so all see the same noise, and
 * prints the median of the rounds:
 * <ul>
 *   <li>{@code read FLOATS...}: a plain four-accumulator vector sum of FLOATS floats of a {@code float[]} at element
 *       offsets 0, 4, 8 and 12, and of a 64-byte-aligned native segment at byte offsets 0, 16, 32 and 48;</li>
 *   <li>{@code kernels SHAPE...}: the library's statistics, inference forward (out of place, y at the same offset)
 *       and backward, {@code float[]} at element offsets 0, 4, 8, 12 (x, y, dy and dx all at that offset), native
 *       segments at byte offsets 0, 16, 32, 48.</li>
 * </ul>
 * Run: {@code java --add-modules jdk.incubator.vector -Xms4g -Xmx4g -XX:+AlwaysPreTouch -cp jmh/target/benchmarks.jar
 * dev.vecnorm.bench.AlignmentProbe kernels NC:8192x256 NCHW:64x56x56x64}.
 */
public final class AlignmentProbe {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final ValueLayout.OfFloat FLOAT = NormsSide.FLOAT;
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final int[] OFFSETS = {0, 4, 8, 12};
  private static final int ROUNDS = 15, WARM_ROUNDS = 3;
  private static volatile double sink;

  private AlignmentProbe() {}

  public static void main(String[] args) {
    if (args.length < 2 || !(args[0].equals("read") || args[0].equals("kernels"))) {
      System.err.println("usage: AlignmentProbe read FLOATS... | kernels SHAPE...");
      System.exit(2);
    }
    System.out.println("| what | op | " + columns() + " | slowest/fastest float[] | slowest/fastest native |");
    System.out.println("| --- | --- |" + " ---: |".repeat(2 * OFFSETS.length + 2));
    for (int i = 1; i < args.length; i++) {
      if (args[0].equals("read")) read(Integer.parseInt(args[i]));
      else kernels(args[i]);
    }
    if (sink == 1.2345) System.out.println();
  }

  private static String columns() {
    List<String> c = new ArrayList<>();
    for (int o : OFFSETS) c.add("float[] +" + o + " µs");
    for (int o : OFFSETS) c.add("native +" + 4 * o + " B µs");
    return String.join(" | ", c);
  }

  /** One timed variant: runs {@code reps} calls and returns. */
  private interface Variant {
    void run(int reps);
  }

  private static void read(int floats) {
    float[] a = new float[floats + 16];
    for (int i = 0; i < a.length; i++) a[i] = VecnormSide.hashUnit(i);
    MemorySegment m = Arena.ofAuto().allocate(4L * (floats + 16), 64);
    MemorySegment.copy(a, 0, m, FLOAT, 0, a.length);
    List<Variant> v = new ArrayList<>();
    for (int o : OFFSETS) v.add(reps -> { for (int r = 0; r < reps; r++) sink += BandwidthOps.read(a, o, floats); });
    for (int o : OFFSETS) v.add(reps -> { for (int r = 0; r < reps; r++) sink += sum(m, 4L * o, floats); });
    print(floats + " floats (" + (4L * floats >> 10) + " KiB)", "read", time(v, floats));
  }

  /** The three operations on one shape's tensors, made once (x, dy at every offset hold the same data). */
  private static void kernels(String label) {
    NormShape s = Workload.parse(label);
    int n = Math.toIntExact(s.size()), c = s.channels();
    float[] x = new float[n + 16], y = new float[n + 16], dy = new float[n + 16], dx = new float[n + 16];
    for (int i = 0; i < x.length; i++) {
      x[i] = VecnormSide.hashUnit(i) * 4 - 1;
      dy[i] = VecnormSide.hashUnit(i ^ 0x5BD1E995) * 2 - 1;
    }
    Arena arena = Arena.ofAuto();
    MemorySegment nx = arena.allocate(4L * x.length, 64), ny = arena.allocate(4L * x.length, 64);
    MemorySegment ndy = arena.allocate(4L * x.length, 64), ndx = arena.allocate(4L * x.length, 64);
    MemorySegment.copy(x, 0, nx, FLOAT, 0, x.length);
    MemorySegment.copy(dy, 0, ndy, FLOAT, 0, x.length);
    float[] gamma = new float[c], beta = new float[c], movingMean = new float[c], movingVariance = new float[c];
    float[] mean = new float[c], variance = new float[c], invStd = new float[c], dGamma = new float[c], dBeta = new float[c];
    Arrays.fill(gamma, 1f);
    Arrays.fill(movingVariance, 1f);
    float eps = Workload.EPSILON;
    Moments moments = new Moments(c);
    // Statistics for the backward: from the data, as in training.
    BatchNorm.forwardTraining(s, x, 0, gamma, beta, eps, y, 0, mean, variance, invStd);
    for (String op : List.of("statistics", "inferenceForward", "backward")) {
      List<Variant> v = new ArrayList<>();
      for (int k = 0; k < 2 * OFFSETS.length; k++) {
        boolean nat = k >= OFFSETS.length;
        int o = OFFSETS[k % OFFSETS.length];
        long b = 4L * o;
        v.add(switch (op) {
          case "statistics" -> nat ? reps -> { for (int r = 0; r < reps; r++) BatchNorm.moments(s, nx, b, moments); }
              : reps -> { for (int r = 0; r < reps; r++) BatchNorm.moments(s, x, o, moments); };
          case "inferenceForward" -> nat
              ? reps -> { for (int r = 0; r < reps; r++) BatchNorm.forwardInference(s, nx, b, gamma, beta, movingMean, movingVariance, eps, ny, b); }
              : reps -> { for (int r = 0; r < reps; r++) BatchNorm.forwardInference(s, x, o, gamma, beta, movingMean, movingVariance, eps, y, o); };
          default -> nat
              ? reps -> { for (int r = 0; r < reps; r++) BatchNorm.backward(s, nx, b, ndy, b, gamma, mean, invStd, ndx, b, dGamma, dBeta); }
              : reps -> { for (int r = 0; r < reps; r++) BatchNorm.backward(s, x, o, dy, o, gamma, mean, invStd, dx, o, dGamma, dBeta); };
        });
      }
      print(label, op, time(v, n));
    }
    sink += moments.mean(0) + y[n / 2] + dx[n / 2];
  }

  /** Median µs per call of each variant over {@link #ROUNDS} rounds, the variants alternating (order flipped each round). */
  private static double[] time(List<Variant> variants, long floats) {
    int k = variants.size(), reps = (int) Math.max(3, 100_000_000L / floats);
    double[][] t = new double[k][ROUNDS];
    for (int round = 0; round < WARM_ROUNDS + ROUNDS; round++) {
      for (int j0 = 0; j0 < k; j0++) {
        int j = round % 2 == 0 ? j0 : k - 1 - j0;
        long t0 = System.nanoTime();
        variants.get(j).run(reps);
        double us = (System.nanoTime() - t0) / 1e3 / reps;
        if (round >= WARM_ROUNDS) t[j][round - WARM_ROUNDS] = us;
      }
    }
    double[] median = new double[k];
    for (int j = 0; j < k; j++) median[j] = VecnormSide.median(t[j]);
    return median;
  }

  private static void print(String what, String op, double[] us) {
    StringBuilder sb = new StringBuilder("| " + what + " | " + op + " |");
    for (double u : us) sb.append(String.format(Locale.ROOT, " %.1f |", u));
    int h = OFFSETS.length;
    double[] a = Arrays.copyOf(us, h), m = Arrays.copyOfRange(us, h, 2 * h);
    sb.append(String.format(Locale.ROOT, " %.2f | %.2f |", max(a) / min(a), max(m) / min(m)));
    System.out.println(sb);
  }

  private static double min(double[] a) {
    return Arrays.stream(a).min().orElse(Double.NaN);
  }

  private static double max(double[] a) {
    return Arrays.stream(a).max().orElse(Double.NaN);
  }

  /** {@link BandwidthOps#read(float[], int, int)} on a native segment from byte {@code from}. */
  static float sum(MemorySegment a, long from, int n) {
    FloatVector acc0 = FloatVector.zero(SPECIES), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int step = SPECIES.length();
    long i = from, bound = from + 4L * (n - n % (4 * step)), end = from + 4L * n;
    for (; i < bound; i += 16L * step) {
      acc0 = acc0.add(FloatVector.fromMemorySegment(SPECIES, a, i, LE));
      acc1 = acc1.add(FloatVector.fromMemorySegment(SPECIES, a, i + 4L * step, LE));
      acc2 = acc2.add(FloatVector.fromMemorySegment(SPECIES, a, i + 8L * step, LE));
      acc3 = acc3.add(FloatVector.fromMemorySegment(SPECIES, a, i + 12L * step, LE));
    }
    float s = acc0.add(acc1).add(acc2).add(acc3).reduceLanes(VectorOperators.ADD);
    for (; i < end; i += 4) s += a.get(FLOAT, i);
    return s;
  }
}
