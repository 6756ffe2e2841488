import dev.vecnorm.LayerNorm;
import java.util.*;
/** Per-second LN backward best-of-5 and plain loop best-of-5, for N seconds, one JVM. args: RxF seconds */
public class LnDrift {
  public static void main(String[] a) {
    String[] s = a[0].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]); // also in Probe.LnData
    int secs = Integer.parseInt(a[1]);
    Probe.LnData d = new Probe.LnData(a[0]);
    float[] x = d.x, dy = d.dy, y = d.y, g = d.g, b = d.b, dg = d.dg, db = d.db, m = d.m, is = d.is;
    for (int w = 0; w < 300; w++) { LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db); LnBwParts.plain(x, dy, y); }
    StringBuilder sb = new StringBuilder();
    for (int k = 0; k < secs * 4; k++) {
      long bl = Long.MAX_VALUE, bp = Long.MAX_VALUE;
      for (int rep = 0; rep < 5; rep++) {
        long t0 = System.nanoTime(); LayerNorm.backward(r, f, x, 0, dy, 0, g, m, is, y, 0, dg, db); long t1 = System.nanoTime();
        LnBwParts.plain(x, dy, y); long t2 = System.nanoTime();
        bl = Math.min(bl, t1 - t0); bp = Math.min(bp, t2 - t1);
      }
      sb.append(String.format("%d/%d ", bl / 1000, bp / 1000));
      try { Thread.sleep(240); } catch (InterruptedException e) {}
    }
    System.out.println(sb);
  }
}
