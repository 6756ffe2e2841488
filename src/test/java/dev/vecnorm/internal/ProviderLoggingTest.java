package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.ChildJvm;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the provider prints, seen from a fresh JVM (its choice is made once per JVM, so this one's
 * output is long gone): a correctly configured run prints nothing, {@code -Dvecnorm.verbose=true} one
 * line, a missing vector module one warning naming the flag that fixes it.
 */
class ProviderLoggingTest {

  /** Entry point of the child JVM: first use of the kernels, then the chosen implementation on stdout. */
  public static final class Child {
    public static void main(String[] args) {
      System.out.println(dev.vecnorm.BatchNorm.implementationName());
    }
  }

  private static ChildJvm.Run run(String... jvmArgs) throws IOException, InterruptedException {
    return ChildJvm.run(Child.class, 60, jvmArgs);
  }

  @Test
  void aWorkingSetupPrintsNothing() throws Exception {
    ChildJvm.Run r = run("--add-modules", "jdk.incubator.vector");
    assertEquals(List.of(), r.stderr(), "nothing on stderr when the Vector API is enabled");
    if (Boolean.getBoolean("vecnorm.expectVector")) assertEquals("panama", r.stdout());
  }

  @Test
  void verbosePrintsTheChoiceOnOneLine() throws Exception {
    ChildJvm.Run r = run("--add-modules", "jdk.incubator.vector", "-Dvecnorm.verbose=true");
    assertEquals(1, r.stderr().size(), "one line: " + r.stderr());
    String expected = r.stdout().equals("panama") ? "vecnorm: Java Vector API enabled (" : "vecnorm: ";
    assertTrue(r.stderr().get(0).startsWith(expected), r.stderr().get(0));

    ChildJvm.Run forced = run("-Dvecnorm.forceScalar=true", "-Dvecnorm.verbose=true");
    assertEquals("scalar", forced.stdout());
    assertEquals(List.of("vecnorm: scalar kernels forced by -Dvecnorm.forceScalar=true"), forced.stderr());
  }

  @Test
  void aMissingVectorModuleWarnsWithTheFix() throws Exception {
    ChildJvm.Run r = run();
    assertEquals("scalar", r.stdout());
    // JUL's default format adds a header line (time, class) to every record; the message is one line.
    List<String> ours = r.stderr().stream().filter(l -> l.contains("vecnorm: ")).toList();
    assertEquals(1, ours.size(), "one message line: " + r.stderr());
    assertTrue(ours.get(0).startsWith("WARNING: vecnorm: "), "logged as a warning: " + ours.get(0));
    assertTrue(ours.get(0).contains("--add-modules jdk.incubator.vector"), ours.get(0));
  }
}
