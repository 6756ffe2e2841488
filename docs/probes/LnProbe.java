import dev.vecnorm.LayerNorm;
import java.util.*;
/** args: op(fwd|bwd) RxF rounds. Median over rounds of best-of-5 call times (µs). */
public class LnProbe {
  public static void main(String[] a) {
    String op = a[0]; String[] s = a[1].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]); // also in Probe.LnData
    int rounds = Integer.parseInt(a[2]);
    Probe.LnData d = new Probe.LnData(a[1]);
    float[] x = d.x, dy = d.dy, y = d.y, g = d.g, b = d.b, dg = d.dg, db = d.db, m = d.m, is = d.is;
    for (int w = 0; w < 300; w++) call(op, r, f, x, dy, y, g, b, dg, db, m, is);
    double[] t = new double[rounds];
    for (int k = 0; k < rounds; k++) {
      long best = Long.MAX_VALUE;
      for (int rep = 0; rep < 5; rep++) { long t0 = System.nanoTime(); call(op, r, f, x, dy, y, g, b, dg, db, m, is); best = Math.min(best, System.nanoTime()-t0); }
      t[k] = best / 1e3;
    }
    Arrays.sort(t);
    double h = 0; for (float v : y) h += Math.abs(v); for (float v : dg) h += v;
    System.out.printf("%s %s median %.1f min %.1f (h %.6g)%n", op, a[1], t[rounds/2], t[0], h);
  }
  static void call(String op, int r, int f, float[] x, float[] dy, float[] y, float[] g, float[] b, float[] dg, float[] db, float[] m, float[] is) {
    if (op.equals("fwd")) LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, m, is);
    else LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db);
  }
}
