import dev.vecnorm.*;
import java.util.*;
import jdk.incubator.vector.*;
/** Channels-last backward apply vs plain 2r1w loops ascending/descending, one JVM. args: RxC... */
public class ApDir {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  public static void main(String[] a) {
    int rounds = 9;
    for (String sh : a) {
      String[] d = sh.split("x"); int r = Integer.parseInt(d[0]), c = Integer.parseInt(d[1]); int n = r * c;
      NormShape s = NormShape.channelsLast(r, c);
      float[] x = new float[n], dy = new float[n], dx = new float[n];
      Random rnd = new Random(1); for (int i = 0; i < n; i++) { x[i] = (float) rnd.nextGaussian(); dy[i] = (float) rnd.nextGaussian(); }
      float[] g = new float[c], m = new float[c], is = new float[c], sd = new float[c], sx = new float[c];
      Arrays.fill(g, 1.1f); Arrays.fill(is, 0.9f);
      Runnable[] ops = {
        () -> BatchNorm.backwardReduce(s, x, 0, dy, 0, m, is, sd, sx),
        () -> BatchNorm.backwardApply(s, x, 0, dy, 0, g, m, is, sd, sx, r, dx, 0),
        () -> up(x, dy, dx, n),
        () -> down(x, dy, dx, n),
        () -> blocks(x, dy, dx, n),
        () -> { BatchNorm.backwardReduce(s, x, 0, dy, 0, m, is, sd, sx); BatchNorm.backwardApply(s, x, 0, dy, 0, g, m, is, sd, sx, r, dx, 0); },
      };
      String[] names = {"reduce", "apply", "2r1wUp", "2r1wDown", "blocks", "reduce+apply"};
      System.out.println(Probe.medians(sh + ":", names, ops, 40, rounds, 3));
    }
  }
  static void up(float[] x, float[] y, float[] z, int n) {
    FloatVector k = FloatVector.broadcast(S, 0.5f), q = FloatVector.broadcast(S, 0.25f); int L = S.length();
    for (int i = 0; i <= n - L; i += L) FloatVector.fromArray(S, y, i).fma(k, FloatVector.fromArray(S, x, i).fma(q, k)).intoArray(z, i);
  }
  static void blocks(float[] x, float[] y, float[] z, int n) {
    FloatVector k = FloatVector.broadcast(S, 0.5f), q = FloatVector.broadcast(S, 0.25f); int L = S.length(), block = 64 * 1024;
    for (int hi = n; hi > 0; hi -= block) { int lo = Math.max(0, hi - block);
      for (int i = lo; i <= hi - L; i += L) FloatVector.fromArray(S, y, i).fma(k, FloatVector.fromArray(S, x, i).fma(q, k)).intoArray(z, i); }
  }
  static void down(float[] x, float[] y, float[] z, int n) {
    FloatVector k = FloatVector.broadcast(S, 0.5f), q = FloatVector.broadcast(S, 0.25f); int L = S.length();
    for (int i = n - L; i >= 0; i -= L) FloatVector.fromArray(S, y, i).fma(k, FloatVector.fromArray(S, x, i).fma(q, k)).intoArray(z, i);
  }
}
