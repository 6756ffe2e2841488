package dev.vecnorm.internal;

import jdk.incubator.vector.*;

/**
 * Two per-channel loops tried in the thirtieth session and not kept, against the library's, in one JVM: (1) 1 / sqrt(v +
 * epsilon) from a float estimate and two Newton steps in double (Vector API; a lane whose two iterates, widened by
 * 2^-42, round to different floats is redone the scalar way), against ScalarBatchNormSupport.invStd (double square
 * root and division, vectorized by C2); bits checked equal; (2) the backward's b coefficient divided by count
 * against multiplied by 1 / count with a two-rounding check, and the division written at an offset of another array
 * (as Coefficients.backward did before the session). ns a call of C channels, best of 9 rounds of 10^5 calls.
 * args: C (run as dev.vecnorm.internal.InvStdAB).
 */
public class InvStdAB {
  private static final VectorSpecies<Double> DOUBLES = DoubleVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> HALF = VectorSpecies.of(float.class, VectorShape.forBitSize(DOUBLES.vectorBitSize() / 2));
  private static final double BELOW = 1 - 0x1p-42, ABOVE = 1 + 0x1p-42;

  static void invStdVector(float[] variance, float epsilon, float[] out, int from, int to) {
    int n = HALF.length(), c = from;
    double eps = epsilon;
    for (; c + n <= to; c += n) {
      DoubleVector d = ((DoubleVector) FloatVector.fromArray(HALF, variance, c).convertShape(VectorOperators.F2D, DOUBLES, 0)).add(eps);
      FloatVector e = ((FloatVector) d.convertShape(VectorOperators.D2F, HALF, 0)).sqrt();
      e = FloatVector.broadcast(HALF, 1f).div(e);
      DoubleVector half = d.mul(0.5), y0 = (DoubleVector) e.convertShape(VectorOperators.F2D, DOUBLES, 0);
      DoubleVector y1 = y0.mul(half.mul(y0).mul(y0).neg().add(1.5));
      DoubleVector y2 = y1.mul(half.mul(y1).mul(y1).neg().add(1.5));
      FloatVector lo = (FloatVector) y1.mul(BELOW).convertShape(VectorOperators.D2F, HALF, 0);
      FloatVector hi = (FloatVector) y2.mul(ABOVE).convertShape(VectorOperators.D2F, HALF, 0);
      lo.intoArray(out, c);
      VectorMask<Float> same = lo.compare(VectorOperators.EQ, hi);
      if (!same.allTrue()) {
        for (int i = 0; i < n; i++) if (!same.laneIsSet(i)) out[c + i] = ScalarBatchNormSupport.invStd(variance[c + i], epsilon);
      }
    }
    for (; c < to; c++) out[c] = ScalarBatchNormSupport.invStd(variance[c], epsilon);
  }

  interface Op { float run(); }

  static double time(Op op) {
    double sink = 0;
    for (int w = 0; w < 200000; w++) sink += op.run();
    long best = Long.MAX_VALUE;
    for (int r = 0; r < 9; r++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < 100000; i++) sink += op.run();
      best = Math.min(best, System.nanoTime() - t0);
    }
    if (sink == 42) System.out.println("!");
    return best / 1e5;
  }

  public static void main(String[] a) {
    int C = Integer.parseInt(a[0]);
    java.util.Random r = new java.util.Random(1);
    float[] v = new float[C], out = new float[C], out2 = new float[C], g = new float[C], sdx = new float[C], t = new float[C], u = new float[C];
    for (int i = 0; i < C; i++) { v[i] = r.nextFloat(); g[i] = 1 + r.nextFloat(); sdx[i] = (float) r.nextGaussian(); }
    ScalarBatchNormSupport.invStd(v, 1e-3f, out, 0, C);
    invStdVector(v, 1e-3f, out2, 0, C);
    if (!java.util.Arrays.equals(out, out2)) throw new AssertionError("bits differ");
    double count = 77;
    System.out.printf("invStd: double sqrt and division %.1f ns, float estimate and Newton %.1f ns%n",
        time(() -> { ScalarBatchNormSupport.invStd(v, 1e-3f, out, 0, C); return out[3]; }),
        time(() -> { invStdVector(v, 1e-3f, out2, 0, C); return out2[3]; }));
    float[] coef = new float[3 * C];
    System.out.printf("b divided, written at coef[C + c]: %.1f ns (C2 does not vectorize the offset store)%n",
        time(() -> { for (int c = 0; c < C; c++) { float ga = g[c] * v[c]; coef[C + c] = (float) (-ga * (double) v[c] * sdx[c] / count); } return coef[C + 3]; }));
    System.out.printf("b: divided %.1f ns, multiplied and checked %.1f ns%n",
        time(() -> { for (int c = 0; c < C; c++) { float ga = g[c] * v[c]; t[c] = (float) (-ga * (double) v[c] * sdx[c] / count); } return t[3]; }),
        time(() -> {
          double inv = 1 / count;
          for (int c = 0; c < C; c++) {
            float ga = g[c] * v[c];
            double y = -ga * (double) v[c] * sdx[c] * inv;
            t[c] = (float) (y * (1 - 0x1p-48));
            u[c] = (float) (y * (1 + 0x1p-48));
          }
          return java.util.Arrays.equals(t, u) ? t[3] : -t[3];
        }));
  }
}
