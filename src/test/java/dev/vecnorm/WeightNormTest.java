package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.VectorizationProvider;
import dev.vecnorm.internal.WeightNormSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * WeightNorm, both implementations, against a double-precision reference written here from the
 * definition {@code w = g v / max(|v|, 1e-6)} per column: forward and norms to 2e-5 relative, backward
 * against the analytic double gradient (2e-5 relative to the column's scale) and against central
 * finite differences of the double reference (1e-4); segments (heap and native, staged in blocks)
 * equal to arrays; bad arguments leave every output untouched.
 */
class WeightNormTest {

  static final int[] COLS = {1, 7, 15, 16, 17, 31, 33, 64, 65, 100};
  static final int[] ROWS = {1, 3, 50};

  static List<WeightNormSupport> impls() {
    List<WeightNormSupport> list = new ArrayList<>();
    list.add(VectorizationProvider.scalarWeightNorm());
    VectorizationProvider.panamaWeightNorm().ifPresent(list::add);
    return list;
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (WeightNormSupport k : impls()) for (int c : COLS) for (int r : ROWS) out.add(Arguments.of(k.name(), k, r, c));
    return out.stream();
  }

  static float[] random(long seed, int n, double center, double scale) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (center + scale * r.nextGaussian());
    return a;
  }

  /** The reference: w[r][c] = g[c] v[r][c] / sqrt(max(Σ v², 1e-12)), in double. */
  static double[] refForward(double[] v, int rows, int cols, double[] g) {
    double[] w = new double[v.length];
    for (int c = 0; c < cols; c++) {
      double sq = 0;
      for (int r = 0; r < rows; r++) sq += v[r * cols + c] * v[r * cols + c];
      double n = Math.sqrt(Math.max(sq, 1e-12));
      for (int r = 0; r < rows; r++) w[r * cols + c] = (g == null ? 1 : g[c]) * v[r * cols + c] / n;
    }
    return w;
  }

  static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) d[i] = a[i];
    return d;
  }

  static double loss(double[] w, float[] dw) {
    double l = 0;
    for (int i = 0; i < w.length; i++) l += w[i] * dw[i];
    return l;
  }

  @ParameterizedTest(name = "{0} {2}x{3}")
  @MethodSource("cases")
  void forwardMatchesTheDoubleReference(String name, WeightNormSupport impl, int rows, int cols) {
    float[] v = random(rows * 31L + cols, rows * cols, 0.1, 1), g = random(cols, cols, 1, 0.5);
    float[] w = new float[rows * cols + 3], norms = new float[cols];
    WeightNorm.forward(impl, rows, cols, v, 0, g, w, 3, norms);
    double[] expected = refForward(toDouble(v), rows, cols, toDouble(g));
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], w[3 + i], 2e-5 * Math.max(1, Math.abs(expected[i])), name + " w[" + i + "]");
    }
    for (int c = 0; c < cols; c++) {
      double sq = 0;
      for (int r = 0; r < rows; r++) sq += (double) v[r * cols + c] * v[r * cols + c];
      assertEquals(Math.sqrt(sq), norms[c], 2e-5 * Math.sqrt(sq), name + " norms[" + c + "]");
    }
    // g == null: unit columns; in place over v.
    float[] inPlace = v.clone();
    WeightNorm.forward(impl, rows, cols, inPlace, 0, null, inPlace, 0, null);
    double[] unit = refForward(toDouble(v), rows, cols, null);
    for (int i = 0; i < unit.length; i++) assertEquals(unit[i], inPlace[i], 2e-5, name + " unit w[" + i + "]");
  }

  @ParameterizedTest(name = "{0} {2}x{3}")
  @MethodSource("cases")
  void backwardMatchesTheAnalyticGradientAndFiniteDifferences(String name, WeightNormSupport impl, int rows, int cols) {
    float[] v = random(rows * 17L + cols, rows * cols, 0.1, 1), g = random(cols + 5, cols, 1, 0.5), dw = random(99, rows * cols, 0, 1);
    float[] dv = new float[rows * cols], dg = new float[cols];
    WeightNorm.backward(impl, rows, cols, v, 0, dw, 0, g, dv, 0, dg);
    double[] vd = toDouble(v), gd = toDouble(g);
    for (int c = 0; c < cols; c++) {
      double sq = 0, dot = 0;
      for (int r = 0; r < rows; r++) {
        sq += vd[r * cols + c] * vd[r * cols + c];
        dot += dw[r * cols + c] * vd[r * cols + c];
      }
      double n = Math.sqrt(sq), scale = Math.abs(gd[c]) / n * Math.sqrt(rows);
      assertEquals(dot / n, dg[c], 2e-5 * Math.max(1, Math.abs(dot / n)) * Math.sqrt(rows), name + " dg[" + c + "]");
      for (int r = 0; r < rows; r++) {
        int k = r * cols + c;
        double expected = gd[c] / n * dw[k] - gd[c] / (n * n * n) * dot * vd[k];
        assertEquals(expected, dv[k], 2e-5 * Math.max(1, scale), name + " dv[" + k + "]");
      }
    }
    // Central differences of the double reference, on a few elements.
    double h = 1e-5;
    for (int k = 0; k < rows * cols; k += Math.max(1, rows * cols / 7)) {
      double[] p = vd.clone(), m = vd.clone();
      p[k] += h;
      m[k] -= h;
      double fd = (loss(refForward(p, rows, cols, gd), dw) - loss(refForward(m, rows, cols, gd), dw)) / (2 * h);
      assertEquals(fd, dv[k], 1e-4 * Math.max(1, Math.abs(fd)), name + " dv[" + k + "] vs finite differences");
    }
    for (int c = 0; c < cols; c += Math.max(1, cols / 5)) {
      double[] p = gd.clone(), m = gd.clone();
      p[c] += h;
      m[c] -= h;
      double fd = (loss(refForward(vd, rows, cols, p), dw) - loss(refForward(vd, rows, cols, m), dw)) / (2 * h);
      assertEquals(fd, dg[c], 1e-4 * Math.max(1, Math.abs(fd)), name + " dg[" + c + "] vs finite differences");
    }
    // In place over dw and over v give the same dv.
    float[] overDw = dw.clone(), overV = v.clone();
    WeightNorm.backward(impl, rows, cols, v, 0, overDw, 0, g, overDw, 0, null);
    WeightNorm.backward(impl, rows, cols, overV, 0, dw, 0, g, overV, 0, null);
    assertArrayEquals(dv, overDw, name);
    assertArrayEquals(dv, overV, name);
  }

  @Test
  void aColumnBelowTheFloorHasAConstantNormAsTensorFlowDifferentiatesMax() {
    for (WeightNormSupport impl : impls()) {
      int rows = 3, cols = 2;
      float[] v = {0, 1, 0, 2, 0, 2}, g = {2, 1}, w = new float[6], dv = new float[6], dg = new float[2];
      float[] dw = {1, 0, -1, 0, 3, 0};
      WeightNorm.forward(impl, rows, cols, v, 0, g, w, 0, null);
      assertArrayEquals(new float[] {0, 1 / 3f, 0, 2 / 3f, 0, 2 / 3f}, w, 1e-7f, impl.name());
      WeightNorm.backward(impl, rows, cols, v, 0, dw, 0, g, dv, 0, dg);
      // Zero column: n = 1e-6, dv = g / n * dw, dg = Σ dw v / n = 0.
      assertEquals(2e6f, dv[0], 1f, impl.name());
      assertEquals(-2e6f, dv[2], 1f, impl.name());
      assertEquals(6e6f, dv[4], 3f, impl.name());
      assertEquals(0f, dg[0], impl.name());
    }
  }

  @Test
  void segmentsGiveTheArrayResultsHeapAndStagedNative() {
    int rows = 400, cols = 100; // 40,000 floats: three staged blocks of native memory
    float[] v = random(1, rows * cols, 0, 1), g = random(2, cols, 1, 0.3), dw = random(3, rows * cols, 0, 1);
    float[] w = new float[rows * cols], norms = new float[cols], dv = new float[rows * cols], dg = new float[cols];
    WeightNorm.forward(rows, cols, v, 0, g, w, 0, norms);
    WeightNorm.backward(rows, cols, v, 0, dw, 0, g, dv, 0, dg);
    try (Arena arena = Arena.ofConfined()) {
      long bytes = 4L * rows * cols;
      MemorySegment vs = arena.allocate(bytes + 8), ws = arena.allocate(bytes + 8), gs = arena.allocate(bytes), ds = arena.allocate(bytes);
      ValueLayout.OfFloat le = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
      MemorySegment.copy(v, 0, vs, le, 8, v.length);
      MemorySegment.copy(dw, 0, gs, le, 0, dw.length);
      float[] segNorms = new float[cols], segDg = new float[cols];
      WeightNorm.forward(rows, cols, vs, 8, g, ws, 4, segNorms);
      same(w, ws.asSlice(4, bytes).toArray(le));
      same(norms, segNorms);
      WeightNorm.backward(rows, cols, vs, 8, gs, 0, g, ds, 0, segDg);
      same(dv, ds.toArray(le));
      same(dg, segDg);
      // In place on native memory.
      WeightNorm.forward(rows, cols, vs, 8, g, vs, 8, null);
      same(w, vs.asSlice(8, bytes).toArray(le));
    }
    MemorySegment heapV = MemorySegment.ofArray(v.clone()), heapW = MemorySegment.ofArray(new float[rows * cols]);
    WeightNorm.forward(rows, cols, heapV, 0, g, heapW, 0, null);
    assertArrayEquals(w, heapW.toArray(ValueLayout.JAVA_FLOAT));
  }

  /**
   * Staged blocks: the Panama reductions continue their FMA chains from the stored sums, so bit for bit;
   * the scalar ones round the double block sums to float between blocks, so within a few ulps.
   */
  private static void same(float[] expected, float[] actual) {
    if (VectorizationProvider.weightNorm().name().equals("panama")) {
      assertArrayEquals(expected, actual);
    } else {
      for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-6f * Math.max(1, Math.abs(expected[i])), "[" + i + "]");
    }
  }

  @Test
  void badArgumentsThrowByNameAndWriteNothing() {
    int rows = 4, cols = 3;
    float[] v = random(5, 12, 0, 1), g = {1, 2, 3}, dw = random(6, 12, 0, 1);
    float[] w = new float[12], dv = new float[12], dg = new float[3], norms = new float[3];
    java.util.Arrays.fill(w, 7f);
    java.util.Arrays.fill(dv, 7f);
    java.util.Arrays.fill(dg, 7f);
    java.util.Arrays.fill(norms, 7f);
    float[] wBefore = w.clone(), dvBefore = dv.clone(), dgBefore = dg.clone(), normsBefore = norms.clone();
    expect("rows", () -> WeightNorm.forward(0, cols, v, 0, g, w, 0, norms));
    expect("cols", () -> WeightNorm.forward(rows, 0, v, 0, g, w, 0, norms));
    expect("v must hold", () -> WeightNorm.forward(rows, cols, v, 1, g, w, 0, norms));
    expect("wOffset", () -> WeightNorm.forward(rows, cols, v, 0, g, w, -1, norms));
    expect("g must have length cols = 3", () -> WeightNorm.forward(rows, cols, v, 0, new float[4], w, 0, norms));
    expect("norms must have length cols = 3", () -> WeightNorm.forward(rows, cols, v, 0, g, w, 0, new float[2]));
    expect("norms and g", () -> WeightNorm.forward(rows, cols, v, 0, g, w, 0, g));
    float[] shared = new float[20];
    expect("w overlaps v", () -> WeightNorm.forward(rows, cols, shared, 0, g, shared, 2, null));
    expect("dw must hold", () -> WeightNorm.backward(rows, cols, v, 0, new float[11], 0, g, dv, 0, dg));
    expect("dv overlaps dw", () -> WeightNorm.backward(rows, cols, v, 0, shared, 0, g, shared, 1, dg));
    expect("dg and g", () -> WeightNorm.backward(rows, cols, v, 0, dw, 0, g, dv, 0, g));
    expect("dg must have length cols = 3", () -> WeightNorm.backward(rows, cols, v, 0, dw, 0, g, dv, 0, new float[5]));
    assertThrows(NullPointerException.class, () -> WeightNorm.backward(rows, cols, v, 0, dw, 0, g, (float[]) null, 0, dg));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment small = arena.allocate(40), big = arena.allocate(48);
      expect("v must hold", () -> WeightNorm.forward(rows, cols, small, 0, g, big, 0, norms));
      expect("read-only", () -> WeightNorm.forward(rows, cols, big, 0, g, big.asReadOnly(), 0, norms));
    }
    assertArrayEquals(wBefore, w);
    assertArrayEquals(dvBefore, dv);
    assertArrayEquals(dgBefore, dg);
    assertArrayEquals(normsBefore, norms);
  }

  private static void expect(String fragment, Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, fragment);
    assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
  }

  @Test
  void panamaIsChosenWhenTheBatchNormKernelsArePanama() {
    if (VectorizationProvider.get() != VectorizationProvider.scalar()) {
      assertEquals("panama", VectorizationProvider.weightNorm().name());
    } else {
      assertEquals("scalar", VectorizationProvider.weightNorm().name());
    }
  }
}
