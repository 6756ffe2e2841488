import dev.vecnorm.*;
import java.util.*;
import jdk.incubator.vector.*;
/**
 * GroupNorm NCHW backward as two whole passes (every group's reduce, then every group's apply: PyTorch's order)
 * against the library and GnTouch's copy of its group loop (reduce a group, apply it from L1), with each pass
 * alone and plain loops, alternating in one JVM. Uses GnTouch's copies of the reduce and apply (compile both).
 * args: NxCxS/G...
 */
public class GnPasses {
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
      float[] acc = new float[2 * c * LANES], bk = new float[2 * n * G];
      Runnable[] ops = {
        () -> GroupNorm.backward(gs, x, 0, dy, 0, g, m, is, dx, 0, dg, db),
        () -> GnTouch.groups(x, dy, dx2, n, c, s, G, g, m, is, acc, false),
        () -> { reduceAll(x, dy, n, c, s, G, g, m, is, acc, bk); applyAll(x, dy, dx2, n, c, s, G, g, m, is, bk); },
        () -> reduceAll(x, dy, n, c, s, G, g, m, is, acc, bk),
        () -> applyAll(x, dy, dx2, n, c, s, G, g, m, is, bk),
        () -> sink += read2(x, dy),
        () -> GnTouch.rw(x, dy, dx2),
      };
      String[] names = {"lib", "copy", "two", "red", "app", "read2", "2r1w"};
      System.out.println(Probe.medians(sh + ":", names, ops, 300, rounds, 5));
    }
  }
  /** Every group's reduce (GnTouch's copy of the library's), keeping each group's b and k. */
  static void reduceAll(float[] x, float[] dy, int batch, int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd, float[] acc, float[] bk) {
    int cpg = channels / groups; double count = (double) cpg * spatial;
    Arrays.fill(acc, 0f);
    for (int n = 0; n < batch; n++) for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      int at = n * groups + g, p0 = (n * channels + c0) * spatial;
      float m = mean[at], sf = invStd[at];
      long sums = GnTouch.reduceGroup(x, p0, dy, p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
      double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
      bk[2 * at] = (float) (-s * s * sumGXhat / count); bk[2 * at + 1] = (float) (-s * sumG / count);
    }
    sink += acc[3];
  }
  /** Every group's apply (GnTouch's copy), from the kept b and k. */
  static void applyAll(float[] x, float[] dy, float[] dx, int batch, int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd, float[] bk) {
    int cpg = channels / groups;
    for (int n = 0; n < batch; n++) for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
      int at = n * groups + g, p0 = (n * channels + c0) * spatial;
      GnTouch.applyGroup(x, p0, dy, p0, dx, p0, c0, cpg, spatial, gamma, invStd[at], mean[at], bk[2 * at], bk[2 * at + 1]);
    }
  }
  static float read2(float[] x, float[] dy) {
    int n = SPECIES.loopBound(x.length);
    FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0;
    for (int i = 0; i < n; i += LANES) { a0 = a0.add(FloatVector.fromArray(SPECIES, x, i)); a1 = a1.add(FloatVector.fromArray(SPECIES, dy, i)); }
    return a0.add(a1).reduceLanes(VectorOperators.ADD);
  }
}
