import dev.vecnorm.LayerNorm;
import java.util.*;
import java.lang.reflect.*;
import jdk.incubator.vector.*;
/** One JVM, K placements of LN backward's arrays; per-set medians + addresses mod 4096. Run with -XX:-UseCompressedOops. */
public class LnPlace {
  static sun.misc.Unsafe U;
  static long addr(Object o) { Object[] h = {o}; return U.getLong(h, (long) U.arrayBaseOffset(Object[].class)) + U.arrayBaseOffset(float[].class); }
  public static void main(String[] a) throws Exception {
    Field f0 = sun.misc.Unsafe.class.getDeclaredField("theUnsafe"); f0.setAccessible(true); U = (sun.misc.Unsafe) f0.get(null);
    int r = Integer.parseInt(a[0]), f = Integer.parseInt(a[1]), K = Integer.parseInt(a[2]), rounds = Integer.parseInt(a[3]);
    Random rnd = new Random(Long.getLong("seed", 1));
    float[][][] sets = new float[K][][]; List<Object> keep = new ArrayList<>();
    for (int k = 0; k < K; k++) {
      keep.add(new float[rnd.nextInt(1024)]);
      float[] x = new float[r*f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] dy = new float[r*f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] dx = new float[r*f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] g = new float[f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] dg = new float[f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] db = new float[f]; keep.add(new float[rnd.nextInt(1024)]);
      float[] m = new float[r], is = new float[r];
      for (int i = 0; i < x.length; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
      for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; }
      LayerNorm.forward(r, f, x, 0, g, null, 1e-3f, dx, 0, m, is);
      sets[k] = new float[][]{x, dy, dx, g, dg, db, m, is};
    }
    for (int w = 0; w < 200; w++) for (int k = 0; k < K; k++) call(r, f, sets[k]);
    System.gc(); Thread.sleep(200);
    for (int w = 0; w < 50; w++) for (int k = 0; k < K; k++) call(r, f, sets[k]);
    double[][] t = new double[K + 1][rounds];
    for (int q = 0; q < rounds; q++) for (int k = 0; k < K; k++) {
      long best = Long.MAX_VALUE;
      for (int rep = 0; rep < 4; rep++) { long t0 = System.nanoTime(); call(r, f, sets[k]); best = Math.min(best, System.nanoTime()-t0); }
      t[k][q] = best / 1e3;
      if (k == K - 1) { best = Long.MAX_VALUE; for (int rep = 0; rep < 4; rep++) { long t0 = System.nanoTime(); rw(sets[0][0], sets[0][1], sets[0][2]); best = Math.min(best, System.nanoTime()-t0); } t[K][q] = best / 1e3; }
    }
    Arrays.sort(t[K]); System.out.printf("ref 2r1w median %7.1f q1 %7.1f q3 %7.1f%n", t[K][rounds/2], t[K][rounds/4], t[K][3*rounds/4]);
    for (int k = 0; k < K; k++) {
      Arrays.sort(t[k]);
      float[][] s = sets[k];
      System.out.printf("set %2d median %7.1f q1 %7.1f q3 %7.1f | x %4d dy %4d dx %4d g %4d dg %4d db %4d | dg-g %5d db-dg %5d dy-x %5d dx-x %5d%n", k, t[k][rounds/2], t[k][rounds/4], t[k][3*rounds/4],
        addr(s[0]) & 4095, addr(s[1]) & 4095, addr(s[2]) & 4095, addr(s[3]) & 4095, addr(s[4]) & 4095, addr(s[5]) & 4095,
        (addr(s[4]) - addr(s[3])) & 4095, (addr(s[5]) - addr(s[4])) & 4095, (addr(s[1]) - addr(s[0])) & 4095, (addr(s[2]) - addr(s[0])) & 4095);
    }
  }
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static void rw(float[] x, float[] y, float[] z) {
    FloatVector k = FloatVector.broadcast(S, 0.5f); int L = S.length(), n = x.length;
    for (int i = 0; i <= n - L; i += L) FloatVector.fromArray(S, x, i).fma(k, FloatVector.fromArray(S, y, i)).intoArray(z, i);
  }
  static void call(int r, int f, float[][] s) { LayerNorm.backward(r, f, s[0], 0, s[1], 0, s[3], s[6], s[7], s[2], 0, s[4], s[5]); }
}
