package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Candidate narrow-row LN forward (rows loop inside one method) against forwardRowsApart. args: ROWS FEATURES */
public class LnNarrow {
  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  static final int LANES = SPECIES.length();
  static final int MODE = Integer.getInteger("mode", 0);

  static void narrow(float[] x, int xOffset, float[] y, int yOffset, int rows, int features, float[] g, float[] b,
                     float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int block = PanamaLayerNormSupport.rowsApartBlock(features);
    float[] t = Scratch.borrow(2 * block), w = Scratch.borrow(block);
    double[] v = Scratch.borrowDoubles(block);
    double invN = 1.0 / features;
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES);
    try {
      for (int r0 = 0; r0 < rows; r0 += block) {
        int n = Math.min(block, rows - r0), x0 = xOffset + r0 * features;
        for (int i = 0, at = x0; i < n; i++, at += features) {
          float shift = x[at];
          FloatVector vs = FloatVector.broadcast(SPECIES, shift);
          FloatVector d0 = FloatVector.zero(SPECIES), d1 = d0, q0 = d0, q1 = d0;
          float sd = 0, sq = 0;
          int f = 0;
          for (; f < bound2; f += 2 * LANES) {
            FloatVector e0 = FloatVector.fromArray(SPECIES, x, at + f).sub(vs), e1 = FloatVector.fromArray(SPECIES, x, at + f + LANES).sub(vs);
            d0 = d0.add(e0);
            d1 = d1.add(e1);
            q0 = e0.fma(e0, q0);
            q1 = e1.fma(e1, q1);
          }
          for (; f < vb; f += LANES) {
            FloatVector e = FloatVector.fromArray(SPECIES, x, at + f).sub(vs);
            d0 = d0.add(e);
            q0 = e.fma(e, q0);
          }
          if (MODE == 6 && f < features) {
            var mk = SPECIES.indexInRange(f, features);
            FloatVector e = FloatVector.fromArray(SPECIES, x, at + f, mk).lanewise(jdk.incubator.vector.VectorOperators.SUB, vs, mk);
            d1 = d1.add(e);
            q1 = e.fma(e, q1);
            f = features;
          }
          for (; f < features; f++) {
            float e = x[at + f] - shift;
            sd += e;
            sq = Math.fma(e, e, sq);
          }
          long lanes = MODE == 1 ? PanamaBatchNormSupport.pack(d0.add(d1).lane(0), q0.add(q1).lane(0)) : PanamaBatchNormSupport.sumLanes(d0.add(d1), q0.add(q1));
          t[2 * i] = sd + Float.intBitsToFloat((int) (lanes >>> 32));
          t[2 * i + 1] = sq + Float.intBitsToFloat((int) lanes);
        }
        if (MODE == 3) {
          for (int i = 0, xo = x0; i < n; i++, xo += features) {
            long sums = PanamaBatchNormSupport.pack(t[2 * i], t[2 * i + 1]);
            float m = PanamaLayerNormSupport.shiftedMean(x[xo], sums, invN);
            if (PanamaLayerNormSupport.cancels(sums, invN)) sums = PanamaLayerNormSupport.blockSums(x, xo, 1, features, features, m);
            double sd = Float.intBitsToFloat((int) (sums >>> 32));
            v[i] = Float.intBitsToFloat((int) sums) - sd * sd * invN;
            t[2 * i] = m;
          }
          for (int i = 0; i < n; i++) w[i] = (float) (1.0 / Math.sqrt(Math.max(0.0, v[i] * invN) + epsilon));
          for (int i = 0; i < n; i++) {
            t[2 * i + 1] = w[i];
            if (mean != null) mean[statsOffset + r0 + i] = t[2 * i];
            if (invStd != null) invStd[statsOffset + r0 + i] = w[i];
          }
        } else
        for (int i = 0, xo = x0; i < n; i++, xo += features) {
          long sums = PanamaBatchNormSupport.pack(t[2 * i], t[2 * i + 1]);
          float m = PanamaLayerNormSupport.shiftedMean(x[xo], sums, invN);
          if (PanamaLayerNormSupport.cancels(sums, invN)) sums = PanamaLayerNormSupport.blockSums(x, xo, 1, features, features, m);
          long stats = MODE == 2 ? sums : PanamaLayerNormSupport.meanInvStd(m, sums, invN, epsilon);
          t[2 * i] = Float.intBitsToFloat((int) (stats >>> 32));
          t[2 * i + 1] = Float.intBitsToFloat((int) stats);
          if (mean != null) mean[statsOffset + r0 + i] = t[2 * i];
          if (invStd != null) invStd[statsOffset + r0 + i] = t[2 * i + 1];
        }
        for (int i = 0, xa = x0, ya = yOffset + r0 * features; i < n; i++, xa += features, ya += features) {
          float m = t[2 * i], s = t[2 * i + 1];
          FloatVector vm = FloatVector.broadcast(SPECIES, m), vsc = FloatVector.broadcast(SPECIES, s);
          int f = 0;
          for (; f < vb; f += LANES) {
            FloatVector u = FloatVector.fromArray(SPECIES, x, xa + f).sub(vm).mul(vsc);
            u.fma(FloatVector.fromArray(SPECIES, g, f), FloatVector.fromArray(SPECIES, b, f)).intoArray(y, ya + f);
          }
          if (MODE >= 5 && f < features) {
            var mk = SPECIES.indexInRange(f, features);
            FloatVector u = FloatVector.fromArray(SPECIES, x, xa + f, mk).sub(vm).mul(vsc);
            u.fma(FloatVector.fromArray(SPECIES, g, f, mk), FloatVector.fromArray(SPECIES, b, f, mk)).intoArray(y, ya + f, mk);
            f = features;
          }
          for (; f < features; f++) y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]);
        }
      }
    } finally {
      Scratch.release(t);
      Scratch.release(w);
      Scratch.releaseDoubles(v);
    }
  }

  public static void main(String[] a) {
    int rows = Integer.parseInt(a[0]), f = Integer.parseInt(a[1]);
    float[] x = new float[rows * f], y = new float[rows * f], y2 = new float[rows * f], g = new float[f], b = new float[f];
    float[] m = new float[rows], is = new float[rows], m2 = new float[rows], is2 = new float[rows];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() + (i % 7 == 0 ? 100f : 0f);
    for (int i = 0; i < f; i++) { g[i] = 1f + 0.01f * i; b[i] = 0.1f * i; }
    int calls = Math.max(200, 20_000_000 / (rows * f));
    double[] ra = new double[12];
    for (int round = 0; round < 12; round++) {
      long t0 = System.nanoTime();
      for (int k = 0; k < calls; k++) PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, rows, f, g, b, 1e-3f, m, is, 0);
      long t1 = System.nanoTime();
      for (int k = 0; k < calls; k++) narrow(x, 0, y2, 0, rows, f, g, b, 1e-3f, m2, is2, 0);
      long t2 = System.nanoTime();
      ra[round] = (double) (t2 - t1) / (t1 - t0);
      System.out.printf("per row: old %.1f  new %.1f ns  new/old %.3f%n", (t1 - t0) / (double) calls / rows, (t2 - t1) / (double) calls / rows, ra[round]);
    }
    if ((MODE == 0 || MODE == 3 || MODE == 5) && (!java.util.Arrays.equals(y, y2) || !java.util.Arrays.equals(m, m2) || !java.util.Arrays.equals(is, is2))) System.out.println("BITS DIFFER");
    java.util.Arrays.sort(ra);
    System.out.printf("median new/old %.3f%n", (ra[5] + ra[6]) / 2);
  }
}
