package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vecnorm.internal.MatMulSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Both matrix multiplies against a double reference: |error| <= 1e-5 * sum_k |a_ik b_kj|. */
class MatMulTest {

  static List<Object[]> cases() {
    List<Object[]> out = new ArrayList<>();
    List<MatMulSupport> impls = new ArrayList<>(List.of(VectorizationProvider.scalarMatMul()));
    VectorizationProvider.panamaMatMul().ifPresent(impls::add);
    int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {4, 300, 17}, {9, 784, 100}, {33, 100, 10}, {5, 1, 33}};
    for (MatMulSupport impl : impls) for (int[] s : shapes) out.add(new Object[] {impl.getClass().getSimpleName(), impl, s});
    return out;
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("cases")
  void matchesDoubleReference(String name, MatMulSupport impl, int[] s) {
    int m = s[0], k = s[1], n = s[2];
    SplittableRandom r = new SplittableRandom(m * 31 + k * 7 + n);
    float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
    for (int i = 0; i < c.length; i++) c[i] = 1f;
    MatMul.multiply(impl, a, b, c, m, k, n, true);
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double exact = 1, mag = 1;
        for (int p = 0; p < k; p++) {
          exact += (double) a[i * k + p] * b[p * n + j];
          mag += Math.abs((double) a[i * k + p] * b[p * n + j]);
        }
        assertEquals(exact, c[i * n + j], 1e-5 * mag, "c[" + i + "][" + j + "]");
      }
    }
    assertThrows(IllegalArgumentException.class, () -> MatMul.multiply(impl, a, b, new float[m * n - 1], m, k, n, false));
  }
}
