package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-tiled matrix multiply: a 4-row by 2-vector block of C lives in eight accumulators while k
 * runs, so each B load feeds four FMAs and each A element is broadcast once per block. Panels of k are
 * cache-blocked so the B panel stays in L2 across the row blocks.
 */
final class PanamaMatMul implements MatMulSupport {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  /** k-panel: KC rows of B (KC * n floats) are reused by every row block before moving on. */
  private static final int KC = 256;

  PanamaMatMul() {
    if (SPECIES.vectorBitSize() < 128) throw new UnsupportedOperationException("vectors narrower than 128 bits");
  }

  @Override
  public void multiply(float[] a, float[] b, float[] c, int m, int k, int n, boolean accumulate) {
    if (!accumulate) java.util.Arrays.fill(c, 0, m * n, 0f);
    for (int k0 = 0; k0 < k; k0 += KC) {
      int k1 = Math.min(k, k0 + KC);
      int i = 0;
      for (; i + 4 <= m; i += 4) rowBlock4(a, b, c, i, k, n, k0, k1);
      for (; i < m; i++) rowBlock1(a, b, c, i, k, n, k0, k1);
    }
  }

  private static void rowBlock4(float[] a, float[] b, float[] c, int i, int k, int n, int k0, int k1) {
    int pairBound = n - n % (2 * LANES), vectorBound = SPECIES.loopBound(n);
    int r0 = i * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
    int a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    int j = 0;
    for (; j < pairBound; j += 2 * LANES) {
      FloatVector c00 = FloatVector.fromArray(SPECIES, c, r0 + j), c01 = FloatVector.fromArray(SPECIES, c, r0 + j + LANES);
      FloatVector c10 = FloatVector.fromArray(SPECIES, c, r1 + j), c11 = FloatVector.fromArray(SPECIES, c, r1 + j + LANES);
      FloatVector c20 = FloatVector.fromArray(SPECIES, c, r2 + j), c21 = FloatVector.fromArray(SPECIES, c, r2 + j + LANES);
      FloatVector c30 = FloatVector.fromArray(SPECIES, c, r3 + j), c31 = FloatVector.fromArray(SPECIES, c, r3 + j + LANES);
      for (int p = k0; p < k1; p++) {
        FloatVector b0 = FloatVector.fromArray(SPECIES, b, p * n + j), b1 = FloatVector.fromArray(SPECIES, b, p * n + j + LANES);
        FloatVector x0 = FloatVector.broadcast(SPECIES, a[a0 + p]);
        c00 = x0.fma(b0, c00);
        c01 = x0.fma(b1, c01);
        FloatVector x1 = FloatVector.broadcast(SPECIES, a[a1 + p]);
        c10 = x1.fma(b0, c10);
        c11 = x1.fma(b1, c11);
        FloatVector x2 = FloatVector.broadcast(SPECIES, a[a2 + p]);
        c20 = x2.fma(b0, c20);
        c21 = x2.fma(b1, c21);
        FloatVector x3 = FloatVector.broadcast(SPECIES, a[a3 + p]);
        c30 = x3.fma(b0, c30);
        c31 = x3.fma(b1, c31);
      }
      c00.intoArray(c, r0 + j);
      c01.intoArray(c, r0 + j + LANES);
      c10.intoArray(c, r1 + j);
      c11.intoArray(c, r1 + j + LANES);
      c20.intoArray(c, r2 + j);
      c21.intoArray(c, r2 + j + LANES);
      c30.intoArray(c, r3 + j);
      c31.intoArray(c, r3 + j + LANES);
    }
    for (; j < vectorBound; j += LANES) {
      FloatVector c0 = FloatVector.fromArray(SPECIES, c, r0 + j), c1 = FloatVector.fromArray(SPECIES, c, r1 + j);
      FloatVector c2 = FloatVector.fromArray(SPECIES, c, r2 + j), c3 = FloatVector.fromArray(SPECIES, c, r3 + j);
      for (int p = k0; p < k1; p++) {
        FloatVector bv = FloatVector.fromArray(SPECIES, b, p * n + j);
        c0 = FloatVector.broadcast(SPECIES, a[a0 + p]).fma(bv, c0);
        c1 = FloatVector.broadcast(SPECIES, a[a1 + p]).fma(bv, c1);
        c2 = FloatVector.broadcast(SPECIES, a[a2 + p]).fma(bv, c2);
        c3 = FloatVector.broadcast(SPECIES, a[a3 + p]).fma(bv, c3);
      }
      c0.intoArray(c, r0 + j);
      c1.intoArray(c, r1 + j);
      c2.intoArray(c, r2 + j);
      c3.intoArray(c, r3 + j);
    }
    for (; j < n; j++) { // scalar tail
      float s0 = c[r0 + j], s1 = c[r1 + j], s2 = c[r2 + j], s3 = c[r3 + j];
      for (int p = k0; p < k1; p++) {
        float bv = b[p * n + j];
        s0 += a[a0 + p] * bv;
        s1 += a[a1 + p] * bv;
        s2 += a[a2 + p] * bv;
        s3 += a[a3 + p] * bv;
      }
      c[r0 + j] = s0;
      c[r1 + j] = s1;
      c[r2 + j] = s2;
      c[r3 + j] = s3;
    }
  }

  private static void rowBlock1(float[] a, float[] b, float[] c, int i, int k, int n, int k0, int k1) {
    int vectorBound = SPECIES.loopBound(n), row = i * n, ar = i * k;
    int j = 0;
    for (; j < vectorBound; j += LANES) {
      FloatVector acc = FloatVector.fromArray(SPECIES, c, row + j);
      for (int p = k0; p < k1; p++) acc = FloatVector.broadcast(SPECIES, a[ar + p]).fma(FloatVector.fromArray(SPECIES, b, p * n + j), acc);
      acc.intoArray(c, row + j);
    }
    for (; j < n; j++) { // scalar tail
      float s = c[row + j];
      for (int p = k0; p < k1; p++) s += a[ar + p] * b[p * n + j];
      c[row + j] = s;
    }
  }
}
