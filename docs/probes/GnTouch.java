import dev.vecnorm.*;
import java.util.*;
import jdk.incubator.vector.*;
/** GN NCHW backward: library vs copied group loop with/without dx touch, plus 2r1w floor. args: NxCxS/G... */
public class GnTouch {
  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED; static final int LANES = SPECIES.length();
  static float sink;
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 11);
    for (String sh : a) {
      String[] q = sh.split("/"); String[] d = q[0].split("x"); int n = Integer.parseInt(d[0]), c = Integer.parseInt(d[1]), s = Integer.parseInt(d[2]);
      int G = Integer.parseInt(q[1]);
      GroupShape gs = GroupShape.nchw(n, c, s, G); int len = n*c*s;
      float[] x = new float[len], dy = new float[len], dx = new float[len], dx2 = new float[len];
      Random r = new Random(3); for (int i = 0; i < len; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[c], b = new float[c], m = new float[gs.statistics()], is = new float[gs.statistics()], dg = new float[c], db = new float[c];
      Arrays.fill(g, 1.3f);
      GroupNorm.forward(gs, x, 0, g, b, 1e-3f, dx, 0, m, is);
      float[] acc = new float[2 * c * LANES];
      Runnable[] ops = {
        () -> GroupNorm.backward(gs, x, 0, dy, 0, g, m, is, dx, 0, dg, db),
        () -> groups(x, dy, dx2, n, c, s, G, g, m, is, acc, false),
        () -> groups(x, dy, dx2, n, c, s, G, g, m, is, acc, true),
        () -> groupsPre(x, dy, dx2, n, c, s, G, g, m, is, acc),
        () -> rw(x, dy, dx2),
        () -> GroupNorm.forward(gs, x, 0, g, b, 1e-3f, dx2, 0, m, is),
      };
      String[] names = {"lib", "copy", "touch", "pre", "2r1w", "fwd"};
      System.out.println(Probe.medians(sh + ":", names, ops, 300, rounds, 5));
    }
  }
  static void rw(float[] x, float[] y, float[] z) {
    FloatVector k = FloatVector.broadcast(SPECIES, 0.5f); int L = LANES, n = x.length;
    for (int i = 0; i <= n - L; i += L) FloatVector.fromArray(SPECIES, x, i).fma(k, FloatVector.fromArray(SPECIES, y, i)).intoArray(z, i);
  }
  static void groups(float[] x, float[] dy, float[] dx, int batch, int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd, float[] acc, boolean touch) {
    int cpg = channels / groups; double count = (double) cpg * spatial;
    Arrays.fill(acc, 0f);
    for (int n = 0; n < batch; n++) for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      int at = n * groups + g, p0 = (n * channels + c0) * spatial;
      float m = mean[at], sf = invStd[at];
      long sums = touch ? reduceGroupT(x, p0, dy, p0, dx, p0, c0, cpg, spatial, channels, gamma, m, sf, acc)
                        : reduceGroup(x, p0, dy, p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
      double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
      applyGroup(x, p0, dy, p0, dx, p0, c0, cpg, spatial, gamma, sf, m, (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count));
    }
    sink += acc[3];
  }
  static void groupsPre(float[] x, float[] dy, float[] dx, int batch, int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd, float[] acc) {
    int cpg = channels / groups; double count = (double) cpg * spatial; int total = batch * channels * spatial, gsz = cpg * spatial;
    Arrays.fill(acc, 0f);
    for (int n = 0; n < batch; n++) for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      int at = n * groups + g, p0 = (n * channels + c0) * spatial;
      float m = mean[at], sf = invStd[at];
      long sums = reduceGroup(x, p0, dy, p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
      double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
      int nx = p0 + gsz < total ? p0 + gsz : p0;
      applyGroupPre(x, p0, dy, p0, dx, p0, c0, cpg, spatial, gamma, sf, m, (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count), nx, acc);
    }
    sink += acc[3];
  }
  private static void applyGroupPre(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial, float[] gamma, float sf, float m, float b, float k, int nx, float[] acc) {
    int bound = SPECIES.loopBound(spatial), last = spatial - LANES, d = nx - xs;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    FloatVector t = FloatVector.zero(SPECIES);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      FloatVector end = FloatVector.fromArray(SPECIES, dy, gs + p + last).fma(va, FloatVector.fromArray(SPECIES, x, xs + p + last).sub(vm).fma(vb, vk));
      for (int i = 0; i < bound; i += LANES) {
        int q = p + i;
        t = t.min(FloatVector.fromArray(SPECIES, x, xs + d + q)).min(FloatVector.fromArray(SPECIES, dy, gs + d + q));
        FloatVector.fromArray(SPECIES, dy, gs + q).fma(va, FloatVector.fromArray(SPECIES, x, xs + q).sub(vm).fma(vb, vk)).intoArray(dx, ds + q);
      }
      if (bound < spatial) end.intoArray(dx, ds + p + last);
    }
    t.intoArray(acc, 0);
  }
  static long pack(FloatVector a, FloatVector b) { return ((long) Float.floatToRawIntBits(a.reduceLanes(VectorOperators.ADD)) << 32) | (Float.floatToRawIntBits(b.reduceLanes(VectorOperators.ADD)) & 0xffffffffL); }
  static VectorMask<Float> alreadySummed(int spatial) { return SPECIES.indexInRange(spatial - SPECIES.loopBound(spatial), LANES); }
  static long reduceGroup(float[] x, int xs, float[] dy, int gs, int c0, int cpg, int spatial, int channels, float[] gamma, float m, float sf, float[] acc) {
    int upper = spatial - spatial % (2 * LANES), vb = SPECIES.loopBound(spatial), last = spatial - LANES, cl = channels * LANES;
    VectorMask<Float> seen = alreadySummed(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, sf);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      int xp = xs + p, gp = gs + p, i = 0;
      FloatVector g0 = zero, g1 = zero, h0 = zero, h1 = zero;
      for (; i < upper; i += 2 * LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i), d1 = FloatVector.fromArray(SPECIES, dy, gp + i + LANES);
        g0 = g0.add(d0); g1 = g1.add(d1);
        h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
        h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + i + LANES).sub(vm), h1);
      }
      for (; i < vb; i += LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i);
        g0 = g0.add(d0); h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
      }
      if (vb < spatial) {
        FloatVector d1 = FloatVector.fromArray(SPECIES, dy, gp + last).blend(zero, seen);
        g1 = g1.add(d1); h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + last).sub(vm).blend(zero, seen), h1);
      }
      FloatVector pg = g0.add(g1), ph = h0.add(h1);
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]);
      sg = pg.fma(gc, sg); sh = ph.fma(gc, sh);
      int ca = c * LANES;
      FloatVector.fromArray(SPECIES, acc, ca).add(pg).intoArray(acc, ca);
      ph.fma(vs, FloatVector.fromArray(SPECIES, acc, cl + ca)).intoArray(acc, cl + ca);
    }
    return pack(sg, sh);
  }
  /** As reduceGroup, and loads the group's dx lines (one load per 16 floats) kept in a blend sink. */
  private static long reduceGroupT(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial, int channels, float[] gamma, float m, float sf, float[] acc) {
    int upper = spatial - spatial % (2 * LANES), vb = SPECIES.loopBound(spatial), last = spatial - LANES, cl = channels * LANES;
    VectorMask<Float> seen = alreadySummed(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, sf);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES), t = zero;
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      int xp = xs + p, gp = gs + p, dp = ds + p, i = 0;
      FloatVector g0 = zero, g1 = zero, h0 = zero, h1 = zero;
      for (; i < upper; i += 2 * LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i), d1 = FloatVector.fromArray(SPECIES, dy, gp + i + LANES);
        t = t.min(FloatVector.fromArray(SPECIES, dx, dp + i)).min(FloatVector.fromArray(SPECIES, dx, dp + i + LANES));
        g0 = g0.add(d0); g1 = g1.add(d1);
        h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
        h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + i + LANES).sub(vm), h1);
      }
      for (; i < vb; i += LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i);
        t = t.min(FloatVector.fromArray(SPECIES, dx, dp + i));
        g0 = g0.add(d0); h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
      }
      if (vb < spatial) {
        FloatVector d1 = FloatVector.fromArray(SPECIES, dy, gp + last).blend(zero, seen);
        t = t.min(FloatVector.fromArray(SPECIES, dx, dp + last));
        g1 = g1.add(d1); h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + last).sub(vm).blend(zero, seen), h1);
      }
      FloatVector pg = g0.add(g1), ph = h0.add(h1);
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]);
      sg = pg.fma(gc, sg); sh = ph.fma(gc, sh);
      int ca = c * LANES;
      FloatVector.fromArray(SPECIES, acc, ca).add(pg).intoArray(acc, ca);
      ph.fma(vs, FloatVector.fromArray(SPECIES, acc, cl + ca)).intoArray(acc, cl + ca);
    }
    t.intoArray(acc, 0); // keep the loads (a real version stores into a sink slot)
    return pack(sg, sh);
  }
  static void applyGroup(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial, float[] gamma, float sf, float m, float b, float k) {
    int bound = SPECIES.loopBound(spatial), last = spatial - LANES;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      FloatVector end = FloatVector.fromArray(SPECIES, dy, gs + p + last).fma(va, FloatVector.fromArray(SPECIES, x, xs + p + last).sub(vm).fma(vb, vk));
      for (int i = 0; i < bound; i += LANES) {
        int q = p + i;
        FloatVector.fromArray(SPECIES, dy, gs + q).fma(va, FloatVector.fromArray(SPECIES, x, xs + q).sub(vm).fma(vb, vk)).intoArray(dx, ds + q);
      }
      if (bound < spatial) end.intoArray(dx, ds + p + last);
    }
  }
}
