package dev.vecnorm.bench;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Per-row cost of layer-norm forward loop forms, against the floors of one read a row: {@code copyScale} (y = x * s,
 * one read and one write a row, the forward's compulsory traffic), {@code sumOnly} (one read: the statistics' Σd and
 * Σd² with the lane sums, no write), {@code writeOnly} (the normalizing write with fixed mean and invStd: x, gamma and
 * beta read, y written); then the whole forwards: {@code fused} (the library's loop form, PanamaLayerNormSupport.forward:
 * the pass writing row r sums row r + 1), {@code twoPass} (sum row r, then write it), {@code fusedRev} (fused with row
 * r written from its end: tests 4K aliasing between row r's stores and row r + 1's loads) and {@code pipe} (a sum loop
 * of row r + 1, then the write loop of row r: the same sums in the same order as fused). Standalone copies, not the
 * library's methods (they are package-private), so a loop form can be changed here first. Rounds rotate over the
 * forms in one JVM (31 rounds, median); prints ns per row.
 *
 * <p>Arguments: {@code FEATURES ROWS REPS XLEAD YLEAD}: ROWS rows of FEATURES floats, REPS calls per timed round (4
 * rows and 512 reps: L1-resident; 2048 rows and 1: from L2/L3), x and y {@code XLEAD}/{@code YLEAD} floats into
 * arrays of at least 1 Mi floats (G1 humongous: the data starts 16 bytes past a region, so lead 512 puts y 2048 bytes
 * from x mod 4096, lead 12 on a 64-byte line).
 * <pre>java --add-modules jdk.incubator.vector -Xms1g -Xmx1g -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormRowProbe 768 4 512 0 0</pre>
 *
 * <p>What it showed (thirteenth session, engineer ln13; AMD EPYC, AVX-512, 16 lanes; ns per row, two JVMs each; the
 * machine shared with other engineers' builds, so read ±10%): at 768 features L1-resident copyScale 39-41, sumOnly
 * 30, writeOnly 68-76, fused 152-163, twoPass 112-119, pipe 127-132; from memory (2048 rows) copyScale 82-94,
 * sumOnly 40-45, writeOnly 95-105, fused 138-154, twoPass 137-183, pipe 149-162. At 1000 features from memory
 * (1024 rows) fused 173-203, twoPass 170-184, pipe 184-208, fusedRev 202-213. The fused loop costs more core time
 * than its two halves as separate loops (L1: 1.4x sumOnly + writeOnly), but from memory the separate loops lose
 * what they win on the core: no form here beat fused by more than the noise from memory. Lead 512 (no 4K aliasing
 * between row r's stores and row r + 1's loads) changed fused by less than the noise, and so did fusedRev.
 *
 * <p>Sixteenth session (engineer ln16): four diagnostic forms of fused, each changed in one respect: {@code fixedStore}
 * (stores to the same two vectors of y every step), {@code noGB} (no gamma/beta: two loads and an fma fewer a
 * vector), {@code storesLast} (both stores after all loads and arithmetic of a step), {@code fixedNext} (row r + 1's
 * loads from one address). ns a row, 768 L1-resident ({@code 768 4 512 0 0}) and 1000 from memory ({@code 1000 1024
 * 1 0 0}), five JVMs: fused 154-163 / 190-207, twoPass 111-114 / 171-187, noGB 107-120 / 147-156, fixedStore
 * 147-162 / 162-175, fixedNext 146-163 / 160-173, storesLast 147-156 / 191-207. gamma and beta cost a third of the
 * fused step, and twoPass beat fused in every run: the library's forward became sum-then-write (PanamaLayerNormSupport.forward).
 */
public final class LayerNormRowProbe {
  private LayerNormRowProbe() {}

  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static final int L = S.length();
  static final VectorShuffle<Float> R1 = VectorShuffle.iota(S, L / 2, 1, true), R2 = VectorShuffle.iota(S, Math.max(1, L / 4), 1, true),
      R3 = VectorShuffle.iota(S, Math.max(1, L / 8), 1, true), R4 = VectorShuffle.iota(S, Math.max(1, L / 16), 1, true);
  static float sumLanes(FloatVector v) {
    v = v.add(v.rearrange(R1)); if (L >= 4) v = v.add(v.rearrange(R2)); if (L >= 8) v = v.add(v.rearrange(R3)); if (L >= 16) v = v.add(v.rearrange(R4));
    return v.lane(0);
  }
  static float sink;

  // floor: one read, one write per row (y = x * s)
  static void copyScale(float[] x, float[] y, int rows, int n) {
    int vb = S.loopBound(n);
    for (int r = 0; r < rows; r++) {
      int o = r * n, f = 0;
      FloatVector vs = FloatVector.broadcast(S, 0.5f);
      for (; f < vb; f += L) FloatVector.fromArray(S, x, o + f).mul(vs).intoArray(y, o + f);
      for (; f < n; f++) y[o + f] = x[o + f] * 0.5f;
    }
  }
  // floor 2: one read per row, sums and lane reduce (no write)
  static void sumOnly(float[] x, float[] y, int rows, int n) {
    int vb = S.loopBound(n), b2 = n - n % (2 * L); float t = 0;
    for (int r = 0; r < rows; r++) {
      int o = r * n, f = 0;
      FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
      for (; f < b2; f += 2 * L) {
        FloatVector e0 = FloatVector.fromArray(S, x, o + f), e1 = FloatVector.fromArray(S, x, o + f + L);
        d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      }
      for (; f < vb; f += L) { FloatVector e = FloatVector.fromArray(S, x, o + f); d0 = d0.add(e); q0 = e.fma(e, q0); }
      t += sumLanes(d0.add(d1)) + sumLanes(q0.add(q1));
    }
    sink = t;
  }
  // normalize write only (given m, s): x, gamma, beta loads, store
  static void writeOnly(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    int vb = S.loopBound(n);
    for (int r = 0; r < rows; r++) {
      int o = r * n, f = 0;
      FloatVector vm = FloatVector.broadcast(S, 0.1f), vs = FloatVector.broadcast(S, 1.1f);
      for (; f < vb; f += L) FloatVector.fromArray(S, x, o + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, o + f);
      for (; f < n; f++) y[o + f] = Math.fma((x[o + f] - 0.1f) * 1.1f, g[f], b[f]);
    }
  }
  static long pack(float a, float b) { return (long) Float.floatToRawIntBits(a) << 32 | Float.floatToRawIntBits(b) & 0xFFFF_FFFFL; }
  static long stats(float x0, long sums, int n, float eps) {
    double invN = 1.0 / n;
    double sd = Float.intBitsToFloat((int) (sums >>> 32)), sq = Float.intBitsToFloat((int) sums);
    float m = (float) (x0 + sd * invN);
    double c = sq - sd * sd * invN;
    float s = (float) (1.0 / Math.sqrt(Math.max(0.0, c * invN) + eps));
    return pack(m, s);
  }
  // current: fused normalize row r + sums of row r+1
  static long fused(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na + f).sub(vx0), e1 = FloatVector.fromArray(S, x, na + f + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
      FloatVector t1 = FloatVector.fromArray(S, x, xa + f + L).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(S, g, f + L), FloatVector.fromArray(S, b, f + L)).intoArray(y, ya + f + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fusedForward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fused(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fused(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }
  static long fv1(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na + f).sub(vx0), e1 = FloatVector.fromArray(S, x, na + f + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya);
      FloatVector t1 = FloatVector.fromArray(S, x, xa + f + L).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(S, g, f + L), FloatVector.fromArray(S, b, f + L)).intoArray(y, ya + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fv1Forward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fv1(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fv1(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }
  static long fv2(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na + f).sub(vx0), e1 = FloatVector.fromArray(S, x, na + f + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs);
      t0.intoArray(y, ya + f);
      FloatVector t1 = FloatVector.fromArray(S, x, xa + f + L).sub(vm).mul(vs);
      t1.intoArray(y, ya + f + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fv2Forward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fv2(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fv2(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }
  static long fv3(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na + f).sub(vx0), e1 = FloatVector.fromArray(S, x, na + f + L).sub(vx0);
      FloatVector t0 = FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs), t1 = FloatVector.fromArray(S, x, xa + f + L).sub(vm).mul(vs);
      FloatVector u0 = t0.fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)), u1 = t1.fma(FloatVector.fromArray(S, g, f + L), FloatVector.fromArray(S, b, f + L));
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      u0.intoArray(y, ya + f); u1.intoArray(y, ya + f + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fv3Forward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fv3(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fv3(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }
  static long fv4(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na).sub(vx0), e1 = FloatVector.fromArray(S, x, na + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      FloatVector t0 = FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
      FloatVector t1 = FloatVector.fromArray(S, x, xa + f + L).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(S, g, f + L), FloatVector.fromArray(S, b, f + L)).intoArray(y, ya + f + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fv4Forward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fv4(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fv4(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }
  // two-pass per row: sums of row r (one read), then write row r
  static long sums(float[] x, int o, int n, float x0) {
    FloatVector vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, o + f).sub(vx0), e1 = FloatVector.fromArray(S, x, o + f + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
    }
    for (; f < vb; f += L) { FloatVector e = FloatVector.fromArray(S, x, o + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0); }
    for (; f < n; f++) { float e = x[o + f] - x0; sd += e; sq = Math.fma(e, e, sq); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void write(float[] x, int o, float[] y, int yd, int n, float[] g, float[] b, float m, float s) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector.fromArray(S, x, o + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, yd + o + f);
      FloatVector.fromArray(S, x, o + f + L).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f + L), FloatVector.fromArray(S, b, f + L)).intoArray(y, yd + o + f + L);
    }
    for (; f < vb; f += L) FloatVector.fromArray(S, x, o + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, yd + o + f);
    for (; f < n; f++) y[yd + o + f] = Math.fma((x[o + f] - m) * s, g[f], b[f]);
  }
  static void twoPass(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n;
      long st = stats(x[o], sums(x, o, n, x[o]), n, 1e-5f);
      write(x, o, y, YO + r * n - o, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st));
    }
  }

  static long fusedRev(float[] x, int xa, float[] y, int ya, int n, float[] g, float[] b, float m, float s, int na, float x0) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s), vx0 = FloatVector.broadcast(S, x0);
    FloatVector d0 = FloatVector.zero(S), d1 = d0, q0 = d0, q1 = d0;
    int vb = S.loopBound(n), b2 = n - n % (2 * L), f = 0; float sd = 0, sq = 0;
    for (; f < b2; f += 2 * L) {
      FloatVector e0 = FloatVector.fromArray(S, x, na + f).sub(vx0), e1 = FloatVector.fromArray(S, x, na + f + L).sub(vx0);
      d0 = d0.add(e0); d1 = d1.add(e1); q0 = e0.fma(e0, q0); q1 = e1.fma(e1, q1);
      int w = b2 - 2 * L - f;
      FloatVector t0 = FloatVector.fromArray(S, x, xa + w).sub(vm).mul(vs);
      t0.fma(FloatVector.fromArray(S, g, w), FloatVector.fromArray(S, b, w)).intoArray(y, ya + w);
      FloatVector t1 = FloatVector.fromArray(S, x, xa + w + L).sub(vm).mul(vs);
      t1.fma(FloatVector.fromArray(S, g, w + L), FloatVector.fromArray(S, b, w + L)).intoArray(y, ya + w + L);
    }
    for (; f < vb; f += L) {
      FloatVector e = FloatVector.fromArray(S, x, na + f).sub(vx0); d0 = d0.add(e); q0 = e.fma(e, q0);
      FloatVector.fromArray(S, x, xa + f).sub(vm).mul(vs).fma(FloatVector.fromArray(S, g, f), FloatVector.fromArray(S, b, f)).intoArray(y, ya + f);
    }
    for (; f < n; f++) { float e = x[na + f] - x0; sd += e; sq = Math.fma(e, e, sq); y[ya + f] = Math.fma((x[xa + f] - m) * s, g[f], b[f]); }
    sd += sumLanes(d0.add(d1)); sq += sumLanes(q0.add(q1));
    return pack(sd, sq);
  }
  static void fusedRevForward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], fusedRev(x, XO, DISCARD, 0, n, g, b, 0, 1, XO, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sums = fusedRev(x, o, y, YO + r * n, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st), next, x[next]);
      if (more) st = stats(x[next], sums, n, 1e-5f);
    }
  }

  static void pipeForward(float[] x, float[] y, float[] g, float[] b, int rows, int n) {
    long st = stats(x[XO], sums(x, XO, n, x[XO]), n, 1e-5f);
    for (int r = 0; r < rows; r++) {
      int o = XO + r * n; boolean more = r + 1 < rows; int next = more ? o + n : o;
      long sn = sums(x, next, n, x[next]);
      write(x, o, y, YO + r * n - o, n, g, b, Float.intBitsToFloat((int) (st >>> 32)), Float.intBitsToFloat((int) st));
      if (more) st = stats(x[next], sn, n, 1e-5f);
    }
  }
  static int XO, YO;
  static float[] DISCARD = new float[1 << 14];

  interface K { void run(float[] x, float[] y, float[] g, float[] b, int rows, int n); }

  public static void main(String[] a) {
    int n = Integer.parseInt(a[0]), rows = Integer.parseInt(a[1]), reps = Integer.parseInt(a.length > 2 ? a[2] : "1");
    String[] names = {"copyScale", "sumOnly", "writeOnly", "fused", "twoPass", "fusedRev", "pipe", "fixedStore", "noGB", "storesLast", "fixedNext"};
    XO = Integer.parseInt(a[3]); YO = Integer.parseInt(a[4]);
    K[] ks = {(x, y, g, b, r, m) -> copyScale(x, y, r, m), (x, y, g, b, r, m) -> sumOnly(x, y, r, m), LayerNormRowProbe::writeOnly, LayerNormRowProbe::fusedForward, LayerNormRowProbe::twoPass, LayerNormRowProbe::fusedRevForward, LayerNormRowProbe::pipeForward, LayerNormRowProbe::fv1Forward, LayerNormRowProbe::fv2Forward, LayerNormRowProbe::fv3Forward, LayerNormRowProbe::fv4Forward};
    SplittableRandom rnd = new SplittableRandom(1);
    int big = Math.max(rows * n + 4096, 1 << 20); float[] x = new float[big], y = new float[big], g = new float[n], b = new float[n];
    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
    for (int i = 0; i < n; i++) { g[i] = 1 + 0.1f * (float) rnd.nextGaussian(); b[i] = 0.1f * (float) rnd.nextGaussian(); }
    for (int w = 0; w < 2000000 / (rows * n / 256 + 1); w++) for (K k : ks) k.run(x, y, g, b, rows, n);
    int R = 31; long[][] t = new long[ks.length][R];
    for (int i = 0; i < R; i++) for (int kk = 0; kk < ks.length; kk++) {
      int k = (kk + i) % ks.length;
      long s0 = System.nanoTime();
      for (int rep = 0; rep < reps; rep++) ks[k].run(x, y, g, b, rows, n);
      t[k][i] = System.nanoTime() - s0;
    }
    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "n=%d rows=%d reps=%d lanes=%d xo=%d yo=%d ns/row:", n, rows, reps, L, XO, YO));
    for (int k = 0; k < ks.length; k++) { long[] u = t[k].clone(); Arrays.sort(u); sb.append(String.format(Locale.ROOT, " %s %.1f", names[k], u[R / 2] / (double) reps / rows)); }
    System.out.println(sb);
  }
}
