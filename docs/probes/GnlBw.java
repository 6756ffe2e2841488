import dev.vecnorm.*;
import java.util.*;
/** GroupNorm NHWC backward vs BatchNorm NHWC backward, one JVM alternating. args: NxSxC/G... */
public class GnlBw {
  public static void main(String[] a) {
    int rounds = Integer.getInteger("rounds", 9);
    for (String sh : a) {
      String[] q = sh.split("/"); String[] d = q[0].split("x"); int n = Integer.parseInt(d[0]), sp = Integer.parseInt(d[1]), c = Integer.parseInt(d[2]);
      GroupShape gs = GroupShape.nhwc(n, sp, c, Integer.parseInt(q[1])); int len = n * sp * c;
      NormShape bs = NormShape.channelsLast(n * sp, c);
      float[] x = new float[len], dy = new float[len], dx = new float[len];
      Random r = new Random(3); for (int i = 0; i < len; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
      float[] g = new float[c], b = new float[c], m = new float[gs.statistics()], is = new float[gs.statistics()], dg = new float[c], db = new float[c];
      float[] bm = new float[c], bi = new float[c]; Arrays.fill(bi, 0.9f);
      Arrays.fill(g, 1.3f);
      GroupNorm.forward(gs, x, 0, g, b, 1e-3f, dx, 0, m, is);
      Runnable[] ops = {
        () -> GroupNorm.backward(gs, x, 0, dy, 0, g, m, is, dx, 0, dg, db),
        () -> BatchNorm.backward(bs, x, 0, dy, 0, g, bm, bi, dx, 0, dg, db),
      };
      String[] names = {"gn", "bn"};
      System.out.println(Probe.medians(sh + ":", names, ops, 100, rounds, 3));
    }
  }
}
