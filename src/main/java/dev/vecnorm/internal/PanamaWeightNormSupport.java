package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Weight-norm passes on the Vector API, vectorized across columns as the channels-last batch-norm
 * statistics are: a lane is a column, so a column sum never needs a lane reduction.
 *
 * <p>Narrow matrices (fewer than {@code 4 * LANES} columns): the reductions walk a tile of column
 * vectors (independent accumulator chains held in registers) down all rows, then one column vector at
 * a time, then the last {@code cols % LANES} columns scalar. Wide matrices: row by row in memory order,
 * each column vector's sum loaded from and stored back to the per-column array, which stays in L1
 * (4 KiB for 1024 columns); a column walk there would jump a whole row (a page for 1024 columns) per
 * step, where the prefetcher cannot follow, and ran 6 ms on a 4096 x 1024 kernel. Both orders add each
 * column's rows in the same sequence, so they give the same bits. The elementwise pass goes row by row.
 * Species only in static finals; nothing allocates.
 */
final class PanamaWeightNormSupport implements WeightNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  private static final int TILE = 4 * LANES;

  PanamaWeightNormSupport() {
    if (SPECIES.vectorBitSize() < 128) {
      throw new UnsupportedOperationException("preferred float vector is " + SPECIES.vectorBitSize() + " bits; need >= 128");
    }
  }

  @Override
  public String name() {
    return "panama";
  }

  @Override
  public void addColumnSquares(float[] v, int vOffset, int rows, int cols, float[] sumSq) {
    if (cols >= TILE) {
      int vb = SPECIES.loopBound(cols);
      for (int r = 0, p = vOffset; r < rows; r++, p += cols) {
        int c = 0;
        // Each column vector is its own accumulator chain: cols / LANES independent chains per row.
        for (; c < vb; c += LANES) {
          FloatVector x = FloatVector.fromArray(SPECIES, v, p + c);
          x.fma(x, load(sumSq, c)).intoArray(sumSq, c);
        }
        for (; c < cols; c++) sumSq[c] = Math.fma(v[p + c], v[p + c], sumSq[c]); // scalar tail
      }
      return;
    }
    int c = 0, tileBound = cols - cols % TILE;
    for (; c < tileBound; c += TILE) {
      FloatVector s0 = load(sumSq, c), s1 = load(sumSq, c + LANES), s2 = load(sumSq, c + 2 * LANES), s3 = load(sumSq, c + 3 * LANES);
      for (int r = 0, p = vOffset + c; r < rows; r++, p += cols) {
        FloatVector v0 = FloatVector.fromArray(SPECIES, v, p), v1 = FloatVector.fromArray(SPECIES, v, p + LANES);
        FloatVector v2 = FloatVector.fromArray(SPECIES, v, p + 2 * LANES), v3 = FloatVector.fromArray(SPECIES, v, p + 3 * LANES);
        s0 = v0.fma(v0, s0);
        s1 = v1.fma(v1, s1);
        s2 = v2.fma(v2, s2);
        s3 = v3.fma(v3, s3);
      }
      s0.intoArray(sumSq, c);
      s1.intoArray(sumSq, c + LANES);
      s2.intoArray(sumSq, c + 2 * LANES);
      s3.intoArray(sumSq, c + 3 * LANES);
    }
    for (int vb = SPECIES.loopBound(cols); c < vb; c += LANES) { // one-vector tail
      FloatVector s = load(sumSq, c);
      for (int r = 0, p = vOffset + c; r < rows; r++, p += cols) {
        FloatVector x = FloatVector.fromArray(SPECIES, v, p);
        s = x.fma(x, s);
      }
      s.intoArray(sumSq, c);
    }
    for (; c < cols; c++) { // scalar tail
      float s = sumSq[c];
      for (int r = 0, p = vOffset + c; r < rows; r++, p += cols) s = Math.fma(v[p], v[p], s);
      sumSq[c] = s;
    }
  }

  @Override
  public void addColumnSquaresAndDots(float[] v, int vOffset, float[] dw, int dwOffset, int rows, int cols, float[] sumSq, float[] dot) {
    if (cols >= TILE) {
      int vb = SPECIES.loopBound(cols);
      for (int r = 0, p = vOffset, q = dwOffset; r < rows; r++, p += cols, q += cols) {
        int c = 0;
        for (; c < vb; c += LANES) {
          FloatVector x = FloatVector.fromArray(SPECIES, v, p + c);
          x.fma(x, load(sumSq, c)).intoArray(sumSq, c);
          FloatVector.fromArray(SPECIES, dw, q + c).fma(x, load(dot, c)).intoArray(dot, c);
        }
        for (; c < cols; c++) { // scalar tail
          sumSq[c] = Math.fma(v[p + c], v[p + c], sumSq[c]);
          dot[c] = Math.fma(dw[q + c], v[p + c], dot[c]);
        }
      }
      return;
    }
    int c = 0, tileBound = cols - cols % (2 * LANES);
    // Two column vectors per tile: four accumulator chains (squares and dots of each), as many
    // registers as the four-vector tile of addColumnSquares.
    for (; c < tileBound; c += 2 * LANES) {
      FloatVector s0 = load(sumSq, c), s1 = load(sumSq, c + LANES), d0 = load(dot, c), d1 = load(dot, c + LANES);
      for (int r = 0, p = vOffset + c, q = dwOffset + c; r < rows; r++, p += cols, q += cols) {
        FloatVector v0 = FloatVector.fromArray(SPECIES, v, p), v1 = FloatVector.fromArray(SPECIES, v, p + LANES);
        s0 = v0.fma(v0, s0);
        s1 = v1.fma(v1, s1);
        d0 = FloatVector.fromArray(SPECIES, dw, q).fma(v0, d0);
        d1 = FloatVector.fromArray(SPECIES, dw, q + LANES).fma(v1, d1);
      }
      s0.intoArray(sumSq, c);
      s1.intoArray(sumSq, c + LANES);
      d0.intoArray(dot, c);
      d1.intoArray(dot, c + LANES);
    }
    for (int vb = SPECIES.loopBound(cols); c < vb; c += LANES) { // one-vector tail
      FloatVector s = load(sumSq, c), d = load(dot, c);
      for (int r = 0, p = vOffset + c, q = dwOffset + c; r < rows; r++, p += cols, q += cols) {
        FloatVector x = FloatVector.fromArray(SPECIES, v, p);
        s = x.fma(x, s);
        d = FloatVector.fromArray(SPECIES, dw, q).fma(x, d);
      }
      s.intoArray(sumSq, c);
      d.intoArray(dot, c);
    }
    for (; c < cols; c++) { // scalar tail
      float s = sumSq[c], d = dot[c];
      for (int r = 0, p = vOffset + c, q = dwOffset + c; r < rows; r++, p += cols, q += cols) {
        s = Math.fma(v[p], v[p], s);
        d = Math.fma(dw[q], v[p], d);
      }
      sumSq[c] = s;
      dot[c] = d;
    }
  }

  /**
   * Accumulators start from the sums so far: a reduction staged in blocks of rows then runs the very
   * same chain of FMAs as one call over all rows, so staged segments give the array results bit for bit.
   */
  private static FloatVector load(float[] sums, int c) {
    return FloatVector.fromArray(SPECIES, sums, c);
  }

  @Override
  public void combineColumns(float[] p, int pOffset, float[] a, float[] q, int qOffset, float[] b, int rows, int cols, float[] out,
                             int outOffset) {
    int vb = SPECIES.loopBound(cols);
    for (int r = 0; r < rows; r++) {
      int pr = pOffset + r * cols, qr = qOffset + r * cols, or = outOffset + r * cols;
      int c = 0;
      if (q == null) {
        for (; c < vb; c += LANES) {
          FloatVector.fromArray(SPECIES, p, pr + c).mul(FloatVector.fromArray(SPECIES, a, c)).intoArray(out, or + c);
        }
        for (; c < cols; c++) out[or + c] = a[c] * p[pr + c]; // scalar tail
      } else {
        for (; c < vb; c += LANES) {
          FloatVector ap = FloatVector.fromArray(SPECIES, p, pr + c).mul(FloatVector.fromArray(SPECIES, a, c));
          FloatVector.fromArray(SPECIES, b, c).fma(FloatVector.fromArray(SPECIES, q, qr + c), ap).intoArray(out, or + c);
        }
        for (; c < cols; c++) out[or + c] = Math.fma(b[c], q[qr + c], a[c] * p[pr + c]); // scalar tail
      }
    }
  }
}
