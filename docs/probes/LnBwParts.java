import dev.vecnorm.LayerNorm;
import java.util.*;
import jdk.incubator.vector.*;
/**
 * LayerNorm backward on this CPU: the library, copies of its row loop and of rewrites with the same bits, and
 * plain loops, alternating in one JVM. args: RxF rounds. -Dops=lib,noGrad,copy,seq,pair,blkR,g2,p1,p1ng,p2,plain,read2
 * picks variants (default all); -DR=16 sets blkR's rows a block.
 * lib: LayerNorm.backward; noGrad: the same with dGamma = dBeta = null; copy: the library's row loop (sums with
 * dGamma/dBeta in the same read, then dx from L1); seq: the same without dGamma/dBeta; pair: two rows a pass
 * (dGamma/dBeta loaded and stored once for both); blkR: R rows as seq, then dGamma/dBeta in registers down
 * strips of four vectors over those rows; g2: dGamma/dBeta in the dx pass instead of the sums' read; p1 / p1ng:
 * the sums' pass alone over all rows, with / without dGamma/dBeta; p2: the dx pass alone; plain: x*dy+dy into
 * a third array; read2: a sum of x and dy.
 */
public class LnBwParts {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static final int L = S.length();
  static float sink;
  public static void main(String[] a) {
    String[] s = a[0].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
    int rounds = Integer.parseInt(a[1]);
    Random rnd = new Random(1);
    float[] x = new float[r*f], dy = new float[r*f], y = new float[r*f], y2 = new float[r*f], g = new float[f], b = new float[f];
    float[] dg = new float[f], db = new float[f], dg2 = new float[f], db2 = new float[f];
    float[] m = new float[r], is = new float[r], bb = new float[r], kk = new float[r], bk = new float[2];
    for (int i = 0; i < x.length; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
    for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
    LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, m, is);
    Map<String, Runnable> all = new LinkedHashMap<>();
    all.put("lib", () -> LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db));
    all.put("noGrad", () -> LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, null, null));
    all.put("copy", () -> full(x, dy, y2, r, f, g, m, is, dg2, db2));
    all.put("seq", () -> seq(x, dy, y2, r, f, g, m, is, bk));
    all.put("pair", () -> pair(x, dy, y2, r, f, g, m, is, dg2, db2));
    all.put("blkR", () -> blkR(x, dy, y2, r, f, g, m, is, bk, dg2, db2));
    all.put("g2", () -> g2(x, dy, y2, r, f, g, m, is, bk, dg2, db2));
    all.put("g3", () -> g3(x, dy, y2, r, f, g, m, is, bk, dg2, db2));
    all.put("p1", () -> pass1(x, dy, r, f, g, m, is, dg2, db2, bb, kk));
    all.put("p1ng", () -> pass1(x, dy, r, f, g, m, is, null, null, bb, kk));
    all.put("p2", () -> pass2(x, dy, y2, r, f, g, m, is, bb, kk));
    all.put("plain", () -> plain(x, dy, y2));
    all.put("read2", () -> sink += read2(x, dy));
    List<String> pick = List.of(System.getProperty("ops", String.join(",", all.keySet())).split(","));
    String[] names = pick.toArray(new String[0]);
    Runnable[] ops = new Runnable[names.length];
    for (int i = 0; i < names.length; i++) ops[i] = Objects.requireNonNull(all.get(names[i]), names[i]);
    System.out.println(Probe.medians(a[0], names, ops, 200, rounds, 5));
  }
  static void full(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] dGamma, float[] dBeta) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int xo = r * features;
      float m = mean[r], s = invStd[r];
      FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
      FloatVector g0 = FloatVector.zero(S), g1 = g0, p0 = g0, p1 = g0;
      int f = 0;
      for (; f < vb; f += 2 * L) {
        FloatVector t0 = FloatVector.fromArray(S, dy, xo + f), t1 = FloatVector.fromArray(S, dy, xo + f + L);
        FloatVector d0 = FloatVector.fromArray(S, x, xo + f).sub(vm), d1 = FloatVector.fromArray(S, x, xo + f + L).sub(vm);
        t0.fma(d0.mul(vs), FloatVector.fromArray(S, dGamma, f)).intoArray(dGamma, f);
        t0.add(FloatVector.fromArray(S, dBeta, f)).intoArray(dBeta, f);
        t1.fma(d1.mul(vs), FloatVector.fromArray(S, dGamma, f + L)).intoArray(dGamma, f + L);
        t1.add(FloatVector.fromArray(S, dBeta, f + L)).intoArray(dBeta, f + L);
        t0 = t0.mul(FloatVector.fromArray(S, gamma, f));
        t1 = t1.mul(FloatVector.fromArray(S, gamma, f + L));
        g0 = g0.add(t0); g1 = g1.add(t1);
        p0 = t0.fma(d0, p0); p1 = t1.fma(d1, p1);
      }
      float sumG = g0.add(g1).reduceLanes(VectorOperators.ADD), sumGd = p0.add(p1).reduceLanes(VectorOperators.ADD);
      float b = (float) (-(double) s * s * s * sumGd / features), k = (float) (-(double) s * sumG / features);
      FloatVector vbv = FloatVector.broadcast(S, b), vk = FloatVector.broadcast(S, k);
      for (f = 0; f < vb; f += L) {
        FloatVector g = FloatVector.fromArray(S, dy, xo + f).mul(FloatVector.fromArray(S, gamma, f));
        FloatVector d = FloatVector.fromArray(S, x, xo + f).sub(vm);
        d.fma(vbv, g.fma(vs, vk)).intoArray(dx, xo + f);
      }
    }
  }
  static void sums(float[] x, float[] dy, int xo, int features, int vb, float[] gamma, float m, float s, float[] bk, int at) {
    FloatVector vm = FloatVector.broadcast(S, m);
    FloatVector g0 = FloatVector.zero(S), g1 = g0, p0 = g0, p1 = g0;
    for (int f = 0; f < vb; f += 2 * L) {
      FloatVector t0 = FloatVector.fromArray(S, dy, xo + f).mul(FloatVector.fromArray(S, gamma, f)), t1 = FloatVector.fromArray(S, dy, xo + f + L).mul(FloatVector.fromArray(S, gamma, f + L));
      FloatVector d0 = FloatVector.fromArray(S, x, xo + f).sub(vm), d1 = FloatVector.fromArray(S, x, xo + f + L).sub(vm);
      g0 = g0.add(t0); g1 = g1.add(t1);
      p0 = t0.fma(d0, p0); p1 = t1.fma(d1, p1);
    }
    float sumG = g0.add(g1).reduceLanes(VectorOperators.ADD), sumGd = p0.add(p1).reduceLanes(VectorOperators.ADD);
    bk[at] = (float) (-(double) s * s * s * sumGd / features); bk[at + 1] = (float) (-(double) s * sumG / features);
  }
  static void applyF(float[] x, float[] dy, float[] dx, int xo, int vb, float[] gamma, float m, float s, float b, float k) {
    FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
    FloatVector vbv = FloatVector.broadcast(S, b), vk = FloatVector.broadcast(S, k);
    for (int f = 0; f < vb; f += L) {
      FloatVector g = FloatVector.fromArray(S, dy, xo + f).mul(FloatVector.fromArray(S, gamma, f));
      FloatVector d = FloatVector.fromArray(S, x, xo + f).sub(vm);
      d.fma(vbv, g.fma(vs, vk)).intoArray(dx, xo + f);
    }
  }
  static void seq(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] bk) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int o = r * features;
      sums(x, dy, o, features, vb, gamma, mean[r], invStd[r], bk, 0);
      applyF(x, dy, dx, o, vb, gamma, mean[r], invStd[r], bk[0], bk[1]);
    }
  }
  static void pair(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] dGamma, float[] dBeta) {
    int vb = S.loopBound(features);
    int r = 0;
    for (; r + 2 <= rows; r += 2) {
      int oa = r * features, ob = oa + features;
      float ma = mean[r], sa = invStd[r], mb = mean[r + 1], sb = invStd[r + 1];
      FloatVector vma = FloatVector.broadcast(S, ma), vsa = FloatVector.broadcast(S, sa), vmb = FloatVector.broadcast(S, mb), vsb = FloatVector.broadcast(S, sb);
      FloatVector ga0 = FloatVector.zero(S), ga1 = ga0, pa0 = ga0, pa1 = ga0, gb0 = ga0, gb1 = ga0, pb0 = ga0, pb1 = ga0;
      for (int f = 0; f < vb; f += 2 * L) {
        FloatVector ta0 = FloatVector.fromArray(S, dy, oa + f), ta1 = FloatVector.fromArray(S, dy, oa + f + L);
        FloatVector da0 = FloatVector.fromArray(S, x, oa + f).sub(vma), da1 = FloatVector.fromArray(S, x, oa + f + L).sub(vma);
        FloatVector tb0 = FloatVector.fromArray(S, dy, ob + f), tb1 = FloatVector.fromArray(S, dy, ob + f + L);
        FloatVector db0 = FloatVector.fromArray(S, x, ob + f).sub(vmb), db1 = FloatVector.fromArray(S, x, ob + f + L).sub(vmb);
        tb0.fma(db0.mul(vsb), ta0.fma(da0.mul(vsa), FloatVector.fromArray(S, dGamma, f))).intoArray(dGamma, f);
        tb1.fma(db1.mul(vsb), ta1.fma(da1.mul(vsa), FloatVector.fromArray(S, dGamma, f + L))).intoArray(dGamma, f + L);
        tb0.add(ta0.add(FloatVector.fromArray(S, dBeta, f))).intoArray(dBeta, f);
        tb1.add(ta1.add(FloatVector.fromArray(S, dBeta, f + L))).intoArray(dBeta, f + L);
        FloatVector gm0 = FloatVector.fromArray(S, gamma, f), gm1 = FloatVector.fromArray(S, gamma, f + L);
        ta0 = ta0.mul(gm0); ta1 = ta1.mul(gm1); tb0 = tb0.mul(gm0); tb1 = tb1.mul(gm1);
        ga0 = ga0.add(ta0); ga1 = ga1.add(ta1); gb0 = gb0.add(tb0); gb1 = gb1.add(tb1);
        pa0 = ta0.fma(da0, pa0); pa1 = ta1.fma(da1, pa1); pb0 = tb0.fma(db0, pb0); pb1 = tb1.fma(db1, pb1);
      }
      float sga = ga0.add(ga1).reduceLanes(VectorOperators.ADD), spa = pa0.add(pa1).reduceLanes(VectorOperators.ADD);
      float sgb = gb0.add(gb1).reduceLanes(VectorOperators.ADD), spb = pb0.add(pb1).reduceLanes(VectorOperators.ADD);
      applyF(x, dy, dx, oa, vb, gamma, ma, sa, (float) (-(double) sa * sa * sa * spa / features), (float) (-(double) sa * sga / features));
      applyF(x, dy, dx, ob, vb, gamma, mb, sb, (float) (-(double) sb * sb * sb * spb / features), (float) (-(double) sb * sgb / features));
    }
  }
  static final int R = Integer.getInteger("R", 16);
  static void blkR(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] bk, float[] dGamma, float[] dBeta) {
    int vb = S.loopBound(features), v4 = features - features % (4 * L);
    for (int r0 = 0; r0 < rows; r0 += R) {
      int r1 = Math.min(rows, r0 + R);
      for (int r = r0; r < r1; r++) {
        int o = r * features;
        sums(x, dy, o, features, vb, gamma, mean[r], invStd[r], bk, 0);
        applyF(x, dy, dx, o, vb, gamma, mean[r], invStd[r], bk[0], bk[1]);
      }
      int f = 0;
      for (; f < v4; f += 4 * L) {
        FloatVector a0 = FloatVector.fromArray(S, dGamma, f), a1 = FloatVector.fromArray(S, dGamma, f + L), a2 = FloatVector.fromArray(S, dGamma, f + 2 * L), a3 = FloatVector.fromArray(S, dGamma, f + 3 * L);
        FloatVector c0 = FloatVector.fromArray(S, dBeta, f), c1 = FloatVector.fromArray(S, dBeta, f + L), c2 = FloatVector.fromArray(S, dBeta, f + 2 * L), c3 = FloatVector.fromArray(S, dBeta, f + 3 * L);
        for (int r = r0, o = r0 * features + f; r < r1; r++, o += features) {
          FloatVector vm = FloatVector.broadcast(S, mean[r]), vs = FloatVector.broadcast(S, invStd[r]);
          FloatVector t0 = FloatVector.fromArray(S, dy, o), t1 = FloatVector.fromArray(S, dy, o + L), t2 = FloatVector.fromArray(S, dy, o + 2 * L), t3 = FloatVector.fromArray(S, dy, o + 3 * L);
          a0 = t0.fma(FloatVector.fromArray(S, x, o).sub(vm).mul(vs), a0);
          a1 = t1.fma(FloatVector.fromArray(S, x, o + L).sub(vm).mul(vs), a1);
          a2 = t2.fma(FloatVector.fromArray(S, x, o + 2 * L).sub(vm).mul(vs), a2);
          a3 = t3.fma(FloatVector.fromArray(S, x, o + 3 * L).sub(vm).mul(vs), a3);
          c0 = t0.add(c0); c1 = t1.add(c1); c2 = t2.add(c2); c3 = t3.add(c3);
        }
        a0.intoArray(dGamma, f); a1.intoArray(dGamma, f + L); a2.intoArray(dGamma, f + 2 * L); a3.intoArray(dGamma, f + 3 * L);
        c0.intoArray(dBeta, f); c1.intoArray(dBeta, f + L); c2.intoArray(dBeta, f + 2 * L); c3.intoArray(dBeta, f + 3 * L);
      }
      for (; f < vb; f += L) {
        FloatVector a0 = FloatVector.fromArray(S, dGamma, f), c0 = FloatVector.fromArray(S, dBeta, f);
        for (int r = r0, o = r0 * features + f; r < r1; r++, o += features) {
          FloatVector t0 = FloatVector.fromArray(S, dy, o);
          a0 = t0.fma(FloatVector.fromArray(S, x, o).sub(FloatVector.broadcast(S, mean[r])).mul(FloatVector.broadcast(S, invStd[r])), a0);
          c0 = t0.add(c0);
        }
        a0.intoArray(dGamma, f); c0.intoArray(dBeta, f);
      }
    }
  }
  static void g2(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] bk, float[] dGamma, float[] dBeta) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int o = r * features;
      sums(x, dy, o, features, vb, gamma, mean[r], invStd[r], bk, 0);
      FloatVector vm = FloatVector.broadcast(S, mean[r]), vs = FloatVector.broadcast(S, invStd[r]);
      FloatVector vbv = FloatVector.broadcast(S, bk[0]), vk = FloatVector.broadcast(S, bk[1]);
      for (int f = 0; f < vb; f += L) {
        FloatVector t = FloatVector.fromArray(S, dy, o + f);
        FloatVector d = FloatVector.fromArray(S, x, o + f).sub(vm);
        t.fma(d.mul(vs), FloatVector.fromArray(S, dGamma, f)).intoArray(dGamma, f);
        t.add(FloatVector.fromArray(S, dBeta, f)).intoArray(dBeta, f);
        d.fma(vbv, t.mul(FloatVector.fromArray(S, gamma, f)).fma(vs, vk)).intoArray(dx, o + f);
      }
    }
  }
  static void g3(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] bk, float[] dGamma, float[] dBeta) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int o = r * features;
      sums(x, dy, o, features, vb, gamma, mean[r], invStd[r], bk, 0);
      applyF(x, dy, dx, o, vb, gamma, mean[r], invStd[r], bk[0], bk[1]);
      FloatVector vm = FloatVector.broadcast(S, mean[r]), vs = FloatVector.broadcast(S, invStd[r]);
      for (int f = 0; f < vb; f += L) {
        FloatVector t = FloatVector.fromArray(S, dy, o + f);
        t.fma(FloatVector.fromArray(S, x, o + f).sub(vm).mul(vs), FloatVector.fromArray(S, dGamma, f)).intoArray(dGamma, f);
        t.add(FloatVector.fromArray(S, dBeta, f)).intoArray(dBeta, f);
      }
    }
  }
  static void pass1(float[] x, float[] dy, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] dGamma, float[] dBeta, float[] bb, float[] kk) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int xo = r * features;
      float m = mean[r], s = invStd[r];
      FloatVector vm = FloatVector.broadcast(S, m), vs = FloatVector.broadcast(S, s);
      FloatVector g0 = FloatVector.zero(S), g1 = g0, p0 = g0, p1 = g0;
      int f = 0;
      for (; f < vb; f += 2 * L) {
        FloatVector t0 = FloatVector.fromArray(S, dy, xo + f), t1 = FloatVector.fromArray(S, dy, xo + f + L);
        FloatVector d0 = FloatVector.fromArray(S, x, xo + f).sub(vm), d1 = FloatVector.fromArray(S, x, xo + f + L).sub(vm);
        if (dGamma != null) {
        t0.fma(d0.mul(vs), FloatVector.fromArray(S, dGamma, f)).intoArray(dGamma, f);
        t0.add(FloatVector.fromArray(S, dBeta, f)).intoArray(dBeta, f);
        t1.fma(d1.mul(vs), FloatVector.fromArray(S, dGamma, f + L)).intoArray(dGamma, f + L);
        t1.add(FloatVector.fromArray(S, dBeta, f + L)).intoArray(dBeta, f + L);
        }
        t0 = t0.mul(FloatVector.fromArray(S, gamma, f));
        t1 = t1.mul(FloatVector.fromArray(S, gamma, f + L));
        g0 = g0.add(t0); g1 = g1.add(t1);
        p0 = t0.fma(d0, p0); p1 = t1.fma(d1, p1);
      }
      float sumG = g0.add(g1).reduceLanes(VectorOperators.ADD), sumGd = p0.add(p1).reduceLanes(VectorOperators.ADD);
      bb[r] = (float) (-(double) s * s * s * sumGd / features); kk[r] = (float) (-(double) s * sumG / features);
    }
  }
  static void pass2(float[] x, float[] dy, float[] dx, int rows, int features, float[] gamma, float[] mean, float[] invStd, float[] bb, float[] kk) {
    int vb = S.loopBound(features);
    for (int r = 0; r < rows; r++) {
      int xo = r * features;
      FloatVector vm = FloatVector.broadcast(S, mean[r]), vs = FloatVector.broadcast(S, invStd[r]);
      FloatVector vbv = FloatVector.broadcast(S, bb[r]), vk = FloatVector.broadcast(S, kk[r]);
      for (int f = 0; f < vb; f += L) {
        FloatVector g = FloatVector.fromArray(S, dy, xo + f).mul(FloatVector.fromArray(S, gamma, f));
        FloatVector d = FloatVector.fromArray(S, x, xo + f).sub(vm);
        d.fma(vbv, g.fma(vs, vk)).intoArray(dx, xo + f);
      }
    }
  }
  static void plain(float[] x, float[] dy, float[] y) {
    int n = S.loopBound(x.length);
    for (int i = 0; i < n; i += L)
      FloatVector.fromArray(S, x, i).fma(FloatVector.fromArray(S, dy, i), FloatVector.fromArray(S, dy, i)).intoArray(y, i);
  }
  static float read2(float[] x, float[] dy) {
    int n = S.loopBound(x.length);
    FloatVector a0 = FloatVector.zero(S), a1 = a0;
    for (int i = 0; i < n; i += L) { a0 = a0.add(FloatVector.fromArray(S, x, i)); a1 = a1.add(FloatVector.fromArray(S, dy, i)); }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }
}
