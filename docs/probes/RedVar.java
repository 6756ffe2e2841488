import dev.vecnorm.*;
import java.util.*;
import jdk.incubator.vector.*;
/** Channels-last backward reduce variants, one JVM alternating. args: RxC */
public class RedVar {
  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED; static final int LANES = SPECIES.length();
  static float sink;
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 11);
    for (String sh : a) {
      String[] d = sh.split("x"); int r = Integer.parseInt(d[0]), c = Integer.parseInt(d[1]); int n = r * c;
      NormShape s = NormShape.channelsLast(r, c);
      int w0 = c / gcd(c, LANES) * LANES; while (w0 < 16 * LANES) w0 *= 2; final int W = w0;
      float[] x = new float[n + 64], dy = new float[n + 64];
      Random rnd = new Random(1); for (int i = 0; i < n; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
      float[] m = new float[c], is = new float[c], sd = new float[c], sx = new float[c];
      Arrays.fill(is, 0.9f);
      float[] S = new float[5 * (W + 64)]; int slot = W + 32;
      Runnable[] ops0 = {
        () -> BatchNorm.backwardReduce(s, x, 0, dy, 0, m, is, sd, sx),
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); sink += fourRowsOnLines(x, 0, dy, 0, 0, n, W, S, slot); },
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); sink += pairSteps(x, 0, dy, 0, 0, n - n % (4 * W), W, S, slot); },
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); rowByRow(x, dy, n - n % W, W, S, slot); },
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); fourPlain(x, dy, n, W, S, slot); },
        () -> sink += loadsOnly(x, dy, n, W),
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); memOrder(x, dy, n, W, S, slot); },
        () -> { Arrays.fill(S, slot, 3 * slot, 0f); memOrderReload(x, dy, n, W, S, slot); },
        () -> sink += read2(x, dy, n),
      };
      String[] names0 = {"lib", "lines", "pairs", "rowByRow", "fourPlain", "loads4", "memOrder", "memReload", "read2"};
      Runnable[] ops = ops0; String[] names = names0;
      String sel = System.getProperty("ops", "lib,lines,pairs,rowByRow,fourPlain,loads4,memOrder,read2");
      java.util.List<Runnable> ol = new java.util.ArrayList<>(); java.util.List<String> nl = new java.util.ArrayList<>();
      for (int q = 0; q < ops.length; q++) if (("," + sel + ",").contains("," + names[q] + ",")) { ol.add(ops[q]); nl.add(names[q]); }
      ops = ol.toArray(new Runnable[0]); names = nl.toArray(new String[0]);
      System.out.println(Probe.medians(sh + ":", names, ops, 150, rounds, 3));
    }
  }
  static final float[] IOTA = new float[LANES]; static { for (int i = 0; i < LANES; i++) IOTA[i] = i; }
  static FloatVector lineIndex(int h) { return FloatVector.fromArray(SPECIES, IOTA, 0).add((float) (LANES - h)); }
  static int lineHead(int offset) { int aligned = (64 - 16 % 64) % 64 / 4; return Math.floorMod(aligned - offset, 16); }
  static float read2(float[] x, float[] y, int n) {
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, b0 = a0, b1 = a0; int L = LANES, i = 0;
    for (; i <= n - 2 * L; i += 2 * L) {
      a0 = a0.add(FloatVector.fromArray(SPECIES, x, i)); a1 = a1.add(FloatVector.fromArray(SPECIES, x, i + L));
      b0 = b0.add(FloatVector.fromArray(SPECIES, y, i)); b1 = b1.add(FloatVector.fromArray(SPECIES, y, i + L));
    }
    return a0.add(a1).add(b0).add(b1).reduceLanes(VectorOperators.ADD);
  }
  static float loadsOnly(float[] x, float[] dy, int total, int width) {
    FloatVector a = FloatVector.zero(SPECIES), b = a, c = a, d = a;
    for (int i = 0; i + 4 * width <= total; i += 4 * width) for (int j = 0; j < width; j += LANES) {
      int p = i + j;
      a = a.add(FloatVector.fromArray(SPECIES, dy, p)).add(FloatVector.fromArray(SPECIES, dy, p + width));
      b = b.add(FloatVector.fromArray(SPECIES, dy, p + 2 * width)).add(FloatVector.fromArray(SPECIES, dy, p + 3 * width));
      c = c.add(FloatVector.fromArray(SPECIES, x, p)).add(FloatVector.fromArray(SPECIES, x, p + width));
      d = d.add(FloatVector.fromArray(SPECIES, x, p + 2 * width)).add(FloatVector.fromArray(SPECIES, x, p + 3 * width));
    }
    return a.add(b).add(c).add(d).reduceLanes(VectorOperators.ADD);
  }
  static void rowByRow(float[] x, float[] dy, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot;
    for (int i = 0; i < total; i += width) for (int j = 0; j < width; j += LANES) {
      FloatVector g = FloatVector.fromArray(SPECIES, dy, i + j);
      FloatVector.fromArray(SPECIES, s, sum + j).add(g).intoArray(s, sum + j);
      g.fma(FloatVector.fromArray(SPECIES, x, i + j).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
    }
  }
  static int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }
  /** Four rows in memory order, the four-row walk's bits: t = g0, t += g1, u = g2, sum += t + (u + g3); h by FMA row by row. */
  static void memOrder(float[] x, float[] dy, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot, t = 3 * slot, u = 4 * slot;
    for (int i = 0; i + 4 * width <= total; i += 4 * width) {
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        g.intoArray(s, t + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        FloatVector.fromArray(SPECIES, s, t + j).add(g).intoArray(s, t + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + 2 * width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        g.intoArray(s, u + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + 3 * width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(FloatVector.fromArray(SPECIES, s, u + j).add(g))).intoArray(s, sum + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
    }
  }
  static void memOrderReload(float[] x, float[] dy, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot, t = 3 * slot;
    for (int i = 0; i + 4 * width <= total; i += 4 * width) {
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        g.intoArray(s, t + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        FloatVector.fromArray(SPECIES, s, t + j).add(g).intoArray(s, t + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + 2 * width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + 3 * width + j;
        FloatVector g = FloatVector.fromArray(SPECIES, dy, p);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(FloatVector.fromArray(SPECIES, dy, p - width).add(g))).intoArray(s, sum + j);
        g.fma(FloatVector.fromArray(SPECIES, x, p).sub(FloatVector.fromArray(SPECIES, s, j)), FloatVector.fromArray(SPECIES, s, h + j)).intoArray(s, h + j);
      }
    }
  }
  static void fourPlain(float[] x, float[] dy, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot;
    for (int i = 0; i + 4 * width <= total; i += 4 * width) for (int j = 0; j < width; j += LANES) {
      int p = i + j;
      FloatVector m = FloatVector.fromArray(SPECIES, s, j);
      FloatVector g0 = FloatVector.fromArray(SPECIES, dy, p), g1 = FloatVector.fromArray(SPECIES, dy, p + width);
      FloatVector g2 = FloatVector.fromArray(SPECIES, dy, p + 2 * width), g3 = FloatVector.fromArray(SPECIES, dy, p + 3 * width);
      FloatVector.fromArray(SPECIES, s, sum + j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum + j);
      FloatVector hj = FloatVector.fromArray(SPECIES, s, h + j);
      hj = g0.fma(FloatVector.fromArray(SPECIES, x, p).sub(m), hj);
      hj = g1.fma(FloatVector.fromArray(SPECIES, x, p + width).sub(m), hj);
      hj = g2.fma(FloatVector.fromArray(SPECIES, x, p + 2 * width).sub(m), hj);
      g3.fma(FloatVector.fromArray(SPECIES, x, p + 3 * width).sub(m), hj).intoArray(s, h + j);
    }
  }
  private static int pairSteps(float[] x, int xOffset, float[] dy, int dyOffset, int i, int end, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot, t = 3 * slot;
    for (; i < end; i += 4 * width) {
      for (int j = 0; j < width; j += LANES) {
        int p = i + j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g0 = FloatVector.fromArray(SPECIES, dy, dyOffset + p), g1 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + width);
        g0.add(g1).intoArray(s, t + j);
        FloatVector hj = g0.fma(FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m), FloatVector.fromArray(SPECIES, s, h + j));
        g1.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + width).sub(m), hj).intoArray(s, h + j);
      }
      for (int j = 0; j < width; j += LANES) {
        int p = i + 2 * width + j;
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector g2 = FloatVector.fromArray(SPECIES, dy, dyOffset + p), g3 = FloatVector.fromArray(SPECIES, dy, dyOffset + p + width);
        FloatVector.fromArray(SPECIES, s, sum + j).add(FloatVector.fromArray(SPECIES, s, t + j).add(g2.add(g3))).intoArray(s, sum + j);
        FloatVector hj = g2.fma(FloatVector.fromArray(SPECIES, x, xOffset + p).sub(m), FloatVector.fromArray(SPECIES, s, h + j));
        g3.fma(FloatVector.fromArray(SPECIES, x, xOffset + p + width).sub(m), hj).intoArray(s, h + j);
      }
    }
    return i;
  }
  private static int fourRowsOnLines(float[] x, int xOffset, float[] dy, int dyOffset, int i, int total, int width, float[] s, int slot) {
    int sum = slot, h = 2 * slot;
    int hx = lineHead(xOffset), hg = lineHead(dyOffset);
    FloatVector ix = lineIndex(hx), ig = lineIndex(hg);
    for (; i + 4 * width <= total && xOffset + i + hx + 4 * width <= x.length && dyOffset + i + hg + 4 * width <= dy.length; i += 4 * width) {
      int ax = xOffset + i + hx, ag = dyOffset + i + hg;
      if (ax < LANES || ag < LANES) continue;
      FloatVector px0 = FloatVector.fromArray(SPECIES, x, ax - LANES), px1 = FloatVector.fromArray(SPECIES, x, ax + width - LANES);
      FloatVector px2 = FloatVector.fromArray(SPECIES, x, ax + 2 * width - LANES), px3 = FloatVector.fromArray(SPECIES, x, ax + 3 * width - LANES);
      FloatVector pg0 = FloatVector.fromArray(SPECIES, dy, ag - LANES), pg1 = FloatVector.fromArray(SPECIES, dy, ag + width - LANES);
      FloatVector pg2 = FloatVector.fromArray(SPECIES, dy, ag + 2 * width - LANES), pg3 = FloatVector.fromArray(SPECIES, dy, ag + 3 * width - LANES);
      for (int j = 0; j < width; j += LANES) {
        FloatVector m = FloatVector.fromArray(SPECIES, s, j);
        FloatVector n0 = FloatVector.fromArray(SPECIES, dy, ag + j), n1 = FloatVector.fromArray(SPECIES, dy, ag + width + j);
        FloatVector n2 = FloatVector.fromArray(SPECIES, dy, ag + 2 * width + j), n3 = FloatVector.fromArray(SPECIES, dy, ag + 3 * width + j);
        FloatVector g0 = ig.selectFrom(pg0, n0), g1 = ig.selectFrom(pg1, n1), g2 = ig.selectFrom(pg2, n2), g3 = ig.selectFrom(pg3, n3);
        pg0 = n0; pg1 = n1; pg2 = n2; pg3 = n3;
        FloatVector.fromArray(SPECIES, s, sum + j).add(g0.add(g1).add(g2.add(g3))).intoArray(s, sum + j);
        FloatVector c0 = FloatVector.fromArray(SPECIES, x, ax + j), c1 = FloatVector.fromArray(SPECIES, x, ax + width + j);
        FloatVector c2 = FloatVector.fromArray(SPECIES, x, ax + 2 * width + j), c3 = FloatVector.fromArray(SPECIES, x, ax + 3 * width + j);
        FloatVector hj = FloatVector.fromArray(SPECIES, s, h + j);
        hj = g0.fma(ix.selectFrom(px0, c0).sub(m), hj);
        hj = g1.fma(ix.selectFrom(px1, c1).sub(m), hj);
        hj = g2.fma(ix.selectFrom(px2, c2).sub(m), hj);
        g3.fma(ix.selectFrom(px3, c3).sub(m), hj).intoArray(s, h + j);
        px0 = c0; px1 = c1; px2 = c2; px3 = c3;
      }
    }
    return i;
  }
}
