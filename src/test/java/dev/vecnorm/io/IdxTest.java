package dev.vecnorm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class IdxTest {

  private static byte[] idx(int... dimsThenValues) {
    int rank = dimsThenValues[0];
    ByteBuffer b = ByteBuffer.allocate(4 + 4 * rank + dimsThenValues.length - 1 - rank);
    b.putInt(0x0800 | rank);
    for (int i = 1; i <= rank; i++) b.putInt(dimsThenValues[i]);
    for (int i = rank + 1; i < dimsThenValues.length; i++) b.put((byte) dimsThenValues[i]);
    return b.array();
  }

  @Test
  void readsAndNamesTheSourceOnDamage() throws IOException {
    Idx.Data d = Idx.read(new ByteArrayInputStream(idx(2, 2, 2, 1, 2, 3, 4)), "t");
    assertArrayEquals(new int[] {2, 2}, d.dims());
    assertArrayEquals(new byte[] {1, 2, 3, 4}, d.values());
    IOException e = assertThrows(IOException.class, () -> Idx.read(new ByteArrayInputStream(idx(2, 2, 2, 1, 2, 3)), "labels.idx"));
    assertTrue(e.getMessage().contains("labels.idx") && e.getMessage().contains("4 bytes") && e.getMessage().contains("found 3"), e.getMessage());
    // A header announcing 2 GB in a 20-byte stream: an error, not an OutOfMemoryError.
    e = assertThrows(IOException.class, () -> Idx.read(new ByteArrayInputStream(idx(2, 46340, 46340, 1, 2)), "big.idx"));
    assertTrue(e.getMessage().contains("big.idx") && e.getMessage().contains("found 2"), e.getMessage());
  }
}
