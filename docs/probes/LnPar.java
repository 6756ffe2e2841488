import dev.vecnorm.*;
import java.util.*;
/** LayerNorm.backward vs ParallelNorms(1) and (2) backward, one JVM. args: RxF rounds */
public class LnPar {
  public static void main(String[] a) throws Exception {
    String[] s = a[0].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
    int rounds = Integer.parseInt(a[1]);
    Random rnd = new Random(1);
    float[] x = new float[r*f], dy = new float[r*f], y = new float[r*f], g = new float[f], b = new float[f], dg = new float[f], db = new float[f];
    float[] m = new float[r], is = new float[r];
    for (int i = 0; i < x.length; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
    for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
    LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, m, is);
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
