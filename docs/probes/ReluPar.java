import dev.vecnorm.*;
import java.util.*;
/** ParallelBatchNorm(2).backwardRelu vs backward, channels-last. args: RxC... */
public class ReluPar {
  public static void main(String[] a) {
    int rounds = 9;
    try (ParallelBatchNorm p = new ParallelBatchNorm(2)) {
      for (String sh : a) {
        String[] d = sh.split("x"); int r = Integer.parseInt(d[0]), c = Integer.parseInt(d[1]); int n = r * c;
        NormShape s = NormShape.channelsLast(r, c);
        float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
        Random rnd = new Random(1); for (int i = 0; i < n; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); y[i] = Math.max(0f, x[i]); }
        float[] g = new float[c], m = new float[c], is = new float[c], dg = new float[c], db = new float[c];
        Arrays.fill(g, 1.1f); Arrays.fill(is, 0.9f);
        Runnable[] ops = {
          () -> p.backwardRelu(s, x, 0, y, 0, dy, 0, g, m, is, dx, 0, null, 0, dg, db),
          () -> p.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db),
        };
        String[] names = {"relu2", "bn2"};
        System.out.println(Probe.medians(sh + ":", names, ops, 60, rounds, 3));
      }
    }
  }
}
