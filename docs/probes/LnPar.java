import dev.vecnorm.*;
import java.util.*;
/** LayerNorm.backward vs ParallelNorms(1) and (2) backward, one JVM. args: RxF rounds */
public class LnPar {
  public static void main(String[] a) throws Exception {
    String[] s = a[0].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]); // also in Probe.LnData
    int rounds = Integer.parseInt(a[1]);
    Probe.LnData d = new Probe.LnData(a[0]);
    float[] x = d.x, dy = d.dy, y = d.y, g = d.g, b = d.b, dg = d.dg, db = d.db, m = d.m, is = d.is;
    try (ParallelNorms p1 = new ParallelNorms(1); ParallelNorms p2 = new ParallelNorms(2)) {
      Runnable[] ops = {
        () -> LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db),
        () -> p1.layerNormBackward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db),
        () -> p2.layerNormBackward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db),
        () -> LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, null, null)};
      System.out.println(Probe.medians(a[0], new String[]{"facade","par1","par2","noGrad"}, ops, 200, rounds, 5));
    }
  }
}
