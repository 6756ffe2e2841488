package dev.vecnorm.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * LayerNorm backward on narrow rows: the library's row loop against a copy whose dGamma/dBeta go in a pass of their
 * own per block of rows, feature-major (each feature's accumulator in a register over the block's rows, in row order,
 * so the same bits), and whose dx writes end with one overlapping vector. Bits checked. args: ROWSxFEATURES...
 */
public class LnBwNarrow {
  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  static final int LANES = SPECIES.length();
  static final int MODE = Integer.getInteger("mode", 0);

  static void narrow(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                     float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES), last = features - LANES;
    boolean overlap = vb < features && last >= 0;
    int block = PanamaLayerNormSupport.rowsApartBlock(features);
    for (int r0 = 0; r0 < rows; r0 += block) {
      int n = Math.min(block, rows - r0);
      for (int r = r0; r < r0 + n; r++) {
        int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
        float m = mean[statsOffset + r], s = invStd[statsOffset + r];
        FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
        FloatVector g0 = FloatVector.zero(SPECIES), g1 = g0, p0 = g0, p1 = g0;
        int f = 0;
        for (; f < bound2; f += 2 * LANES) {
          FloatVector t0 = FloatVector.fromArray(SPECIES, dy, go + f), t1 = FloatVector.fromArray(SPECIES, dy, go + f + LANES);
          FloatVector d0 = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm), d1 = FloatVector.fromArray(SPECIES, x, xo + f + LANES).sub(vm);
          if (gamma != null) {
            t0 = t0.mul(FloatVector.fromArray(SPECIES, gamma, f));
            t1 = t1.mul(FloatVector.fromArray(SPECIES, gamma, f + LANES));
          }
          g0 = g0.add(t0);
          g1 = g1.add(t1);
          p0 = t0.fma(d0, p0);
          p1 = t1.fma(d1, p1);
        }
        for (; f < vb; f += LANES) {
          FloatVector t = FloatVector.fromArray(SPECIES, dy, go + f), d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
          if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
          g0 = g0.add(t);
          p0 = t.fma(d, p0);
        }
        long lanes = MODE == 1 ? PanamaBatchNormSupport.pack(g0.add(g1).lane(0), p0.add(p1).lane(0)) : PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
        float sumG = Float.intBitsToFloat((int) (lanes >>> 32)), sumGd = Float.intBitsToFloat((int) lanes);
        for (; f < features; f++) {
          float d = x[xo + f] - m, t = dy[go + f];
          float g = gamma == null ? t : t * gamma[f];
          sumG += g;
          sumGd = Math.fma(g, d, sumGd);
        }
        float b = MODE == 2 ? sumGd * s : (float) (-(double) s * s * s * sumGd / features), k = MODE == 2 ? sumG * s : (float) (-(double) s * sumG / features);
        FloatVector vbv = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
        if (overlap) {
          FloatVector g = FloatVector.fromArray(SPECIES, dy, go + last);
          if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, last));
          FloatVector u = FloatVector.fromArray(SPECIES, x, xo + last).sub(vm).fma(vbv, g.fma(vs, vk));
          for (f = 0; f < vb; f += LANES) {
            FloatVector gg = FloatVector.fromArray(SPECIES, dy, go + f);
            if (gamma != null) gg = gg.mul(FloatVector.fromArray(SPECIES, gamma, f));
            FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
            d.fma(vbv, gg.fma(vs, vk)).intoArray(dx, dxo + f);
          }
          u.intoArray(dx, dxo + last);
        } else {
          for (f = 0; f < vb; f += LANES) {
            FloatVector gg = FloatVector.fromArray(SPECIES, dy, go + f);
            if (gamma != null) gg = gg.mul(FloatVector.fromArray(SPECIES, gamma, f));
            FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
            d.fma(vbv, gg.fma(vs, vk)).intoArray(dx, dxo + f);
          }
          for (; f < features; f++) {
            float d = x[xo + f] - m, t = dy[go + f];
            float g = gamma == null ? t : t * gamma[f];
            dx[dxo + f] = Math.fma(d, b, Math.fma(g, s, k));
          }
        }
      }
      if (dGamma == null && dBeta == null || MODE == 3) continue;
      // gradients feature-major: each feature's sums over the block's rows in row order, in registers
      int f = 0;
      for (; f < vb; f += LANES) {
        FloatVector ag = dGamma == null ? null : FloatVector.fromArray(SPECIES, dGamma, f);
        FloatVector ab = dBeta == null ? null : FloatVector.fromArray(SPECIES, dBeta, f);
        for (int r = r0; r < r0 + n; r++) {
          int xo = xOffset + r * features + f, go = dyOffset + r * features + f;
          FloatVector t = FloatVector.fromArray(SPECIES, dy, go);
          if (ag != null) {
            FloatVector d = FloatVector.fromArray(SPECIES, x, xo).sub(mean[statsOffset + r]);
            ag = t.fma(d.mul(invStd[statsOffset + r]), ag);
          }
          if (ab != null) ab = t.add(ab);
        }
        if (ag != null) ag.intoArray(dGamma, f);
        if (ab != null) ab.intoArray(dBeta, f);
      }
      for (; f < features; f++) {
        float sg = dGamma == null ? 0 : dGamma[f], sb = dBeta == null ? 0 : dBeta[f];
        for (int r = r0; r < r0 + n; r++) {
          float t = dy[dyOffset + r * features + f];
          sg += t * ((x[xOffset + r * features + f] - mean[statsOffset + r]) * invStd[statsOffset + r]);
          sb += t;
        }
        if (dGamma != null) dGamma[f] = sg;
        if (dBeta != null) dBeta[f] = sb;
      }
    }
  }

  static void rowTails(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int features,
                       float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    int vb = SPECIES.loopBound(features), bound2 = features - features % (2 * LANES), last = features - LANES;
    boolean overlap = vb < features && last >= 0;
    jdk.incubator.vector.VectorMask<Float> tail = SPECIES.indexInRange(-(LANES - (features - vb)), features - vb);
    for (int r = 0; r < rows; r++) {
      int xo = xOffset + r * features, go = dyOffset + r * features, dxo = dxOffset + r * features;
      float m = mean[statsOffset + r], s = invStd[statsOffset + r];
      FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, s);
      FloatVector g0 = FloatVector.zero(SPECIES), g1 = g0, p0 = g0, p1 = g0;
      int f = 0;
      for (; f < bound2; f += 2 * LANES) {
        FloatVector t0 = FloatVector.fromArray(SPECIES, dy, go + f), t1 = FloatVector.fromArray(SPECIES, dy, go + f + LANES);
        FloatVector d0 = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm), d1 = FloatVector.fromArray(SPECIES, x, xo + f + LANES).sub(vm);
        PanamaLayerNormSupport.accumulateGradients(dGamma, dBeta, f, t0, d0, vs);
        PanamaLayerNormSupport.accumulateGradients(dGamma, dBeta, f + LANES, t1, d1, vs);
        if (gamma != null) {
          t0 = t0.mul(FloatVector.fromArray(SPECIES, gamma, f));
          t1 = t1.mul(FloatVector.fromArray(SPECIES, gamma, f + LANES));
        }
        g0 = g0.add(t0);
        g1 = g1.add(t1);
        p0 = t0.fma(d0, p0);
        p1 = t1.fma(d1, p1);
      }
      for (; f < vb; f += LANES) {
        FloatVector t = FloatVector.fromArray(SPECIES, dy, go + f), d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
        PanamaLayerNormSupport.accumulateGradients(dGamma, dBeta, f, t, d, vs);
        if (gamma != null) t = t.mul(FloatVector.fromArray(SPECIES, gamma, f));
        g0 = g0.add(t);
        p0 = t.fma(d, p0);
      }
      long lanes = PanamaBatchNormSupport.sumLanes(g0.add(g1), p0.add(p1));
      float sumG = Float.intBitsToFloat((int) (lanes >>> 32)), sumGd = Float.intBitsToFloat((int) lanes);
      if (overlap) {
        FloatVector t = FloatVector.fromArray(SPECIES, dy, go + last), d = FloatVector.fromArray(SPECIES, x, xo + last).sub(vm);
        if (dGamma != null) FloatVector.fromArray(SPECIES, dGamma, last).lanewise(jdk.incubator.vector.VectorOperators.ADD, t.mul(d.mul(vs)), tail).intoArray(dGamma, last);
        if (dBeta != null) FloatVector.fromArray(SPECIES, dBeta, last).lanewise(jdk.incubator.vector.VectorOperators.ADD, t, tail).intoArray(dBeta, last);
      }
      for (; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        if (!overlap) {
          if (dGamma != null) dGamma[f] += t * (d * s);
          if (dBeta != null) dBeta[f] += t;
        }
        float g = gamma == null ? t : t * gamma[f];
        sumG += g;
        sumGd = Math.fma(g, d, sumGd);
      }
      float b = (float) (-(double) s * s * s * sumGd / features), k = (float) (-(double) s * sumG / features);
      FloatVector vbv = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
      if (overlap) {
        FloatVector g = FloatVector.fromArray(SPECIES, dy, go + last);
        if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, last));
        FloatVector u = FloatVector.fromArray(SPECIES, x, xo + last).sub(vm).fma(vbv, g.fma(vs, vk));
        for (f = 0; f < vb; f += LANES) {
          FloatVector gg = FloatVector.fromArray(SPECIES, dy, go + f);
          if (gamma != null) gg = gg.mul(FloatVector.fromArray(SPECIES, gamma, f));
          FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
          d.fma(vbv, gg.fma(vs, vk)).intoArray(dx, dxo + f);
        }
        u.intoArray(dx, dxo + last);
        continue;
      }
      for (f = 0; f < vb; f += LANES) {
        FloatVector gg = FloatVector.fromArray(SPECIES, dy, go + f);
        if (gamma != null) gg = gg.mul(FloatVector.fromArray(SPECIES, gamma, f));
        FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
        d.fma(vbv, gg.fma(vs, vk)).intoArray(dx, dxo + f);
      }
      for (; f < features; f++) {
        float d = x[xo + f] - m, t = dy[go + f];
        float g = gamma == null ? t : t * gamma[f];
        dx[dxo + f] = Math.fma(d, b, Math.fma(g, s, k));
      }
    }
  }

  static void dxRow(float[] x, int xo, float[] dy, int go, float[] dx, int dxo, int vb, float[] gamma, FloatVector vm, FloatVector vs, FloatVector vbv, FloatVector vk) {
    for (int f = 0; f < vb; f += LANES) {
      FloatVector g = FloatVector.fromArray(SPECIES, dy, go + f);
      if (gamma != null) g = g.mul(FloatVector.fromArray(SPECIES, gamma, f));
      FloatVector d = FloatVector.fromArray(SPECIES, x, xo + f).sub(vm);
      d.fma(vbv, g.fma(vs, vk)).intoArray(dx, dxo + f);
    }
  }

  public static void main(String[] a) {
    PanamaLayerNormSupport lib = new PanamaLayerNormSupport();
    for (String shape : a) {
      String[] p = shape.split("x");
      int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]);
      float[] x = new float[rows * f], y = new float[rows * f], dy = new float[rows * f], dx1 = new float[rows * f], dx2 = new float[rows * f];
      java.util.Random r = new java.util.Random(1);
      for (int i = 0; i < x.length; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[f], b = new float[f], m = new float[rows], is = new float[rows];
      for (int i = 0; i < f; i++) g[i] = 1f + 0.01f * i;
      float[] dg1 = new float[f], db1 = new float[f], dg2 = new float[f], db2 = new float[f];
      lib.forward(x, 0, y, 0, rows, f, g, b, 1e-3f, m, is, 0);
      int calls = Math.max(20, 1_000_000 / (rows * f));
      Runnable A = () -> { for (int k = 0; k < calls; k++) { java.util.Arrays.fill(dg1, 0f); java.util.Arrays.fill(db1, 0f); lib.backward(x, 0, dy, 0, dx1, 0, rows, f, g, m, is, 0, dg1, db1); } };
      Runnable B = () -> { for (int k = 0; k < calls; k++) { java.util.Arrays.fill(dg2, 0f); java.util.Arrays.fill(db2, 0f); if (MODE == 4) rowTails(x, 0, dy, 0, dx2, 0, rows, f, g, m, is, 0, dg2, db2); else narrow(x, 0, dy, 0, dx2, 0, rows, f, g, m, is, 0, dg2, db2); } };
      for (int w = 0; w < 30; w++) { A.run(); B.run(); }
      String res = PairedAB.run(shape, "narrow", B, "library", A, 15);
      boolean same = java.util.Arrays.equals(dx1, dx2) && java.util.Arrays.equals(dg1, dg2) && java.util.Arrays.equals(db1, db2);
      System.out.println(res + "  (µs per " + calls + " calls)" + (same ? "" : "  BITS DIFFER"));
    }
  }
}
