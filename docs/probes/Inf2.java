import dev.vecnorm.*;
import java.util.*;
import java.util.concurrent.*;
import jdk.incubator.vector.*;
/** Out-of-place inference, NHWC 64x56x56x64: BatchNorm vs ParallelBatchNorm(2) vs plain 1T/2T read-write loops. */
public class Inf2 {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  public static void main(String[] a) throws Exception {
    int r = 64 * 56 * 56, c = 64, n = r * c;
    NormShape s = NormShape.channelsLast(r, c);
    float[] x = new float[n], y = new float[n];
    Random rnd = new Random(1); for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
    float[] m = new float[c], v = new float[c], g = new float[c], b = new float[c]; Arrays.fill(v, 1f); Arrays.fill(g, 1f);
    ExecutorService ex = Executors.newFixedThreadPool(1);
    ParallelBatchNorm p = new ParallelBatchNorm(2);
    Runnable[] ops = {
      () -> BatchNorm.forwardInference(s, x, 0, g, b, m, v, 1e-3f, y, 0),
      () -> p.forwardInference(s, x, 0, g, b, m, v, 1e-3f, y, 0),
      () -> rw(x, y, 0, n),
      () -> { Future<?> f = ex.submit(() -> rw(x, y, n / 2, n)); rw(x, y, 0, n / 2); try { f.get(); } catch (Exception e) { throw new RuntimeException(e); } },
      () -> rw(x, x, 0, n),
      () -> { Future<?> f = ex.submit(() -> rw(x, x, n / 2, n)); rw(x, x, 0, n / 2); try { f.get(); } catch (Exception e) { throw new RuntimeException(e); } },
    };
    String[] names = {"bn1", "pbn2", "rw1", "rw2", "inplace1", "inplace2"};
    System.out.println(Probe.medians("", names, ops, 30, 9, 3));
    ex.shutdown(); p.close();
  }
  static void rw(float[] x, float[] y, int from, int to) {
    FloatVector k = FloatVector.broadcast(S, 0.5f), q = FloatVector.broadcast(S, 0.25f); int L = S.length();
    for (int i = from; i <= to - L; i += L) FloatVector.fromArray(S, x, i).fma(k, q).intoArray(y, i);
  }
}
