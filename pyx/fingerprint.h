/* fingerprint.h: the C of the array fingerprint (pyx/fingerprint.pyx).
 *
 * What it computes: the sum modulo 2^64 of a 64-bit mix (murmur3's finaliser) of each 32-bit word with
 * its index: the same in any order, so bit for bit the twin's.
 * NumPy twin: scratchnet/fast/fingerprint.py.
 * Data layout: the array's bytes in C order read as uint32 words (native byte order), the tail
 * zero-padded to a word by the caller. */
#ifndef SN_FINGERPRINT_H
#define SN_FINGERPRINT_H

#include <stdint.h>
#include <string.h>
/* words first .. first+n-1 of the array, each mixed with its index (the twin's formula) */
static uint64_t sn_fingerprint_words(const uint32_t* w, uint64_t first, Py_ssize_t n) {
    uint64_t sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h = (uint64_t)w[i] | (((first + (uint64_t)i) & 0xFFFFFFFFu) << 32);
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDull;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 33;
        sum += h;
    }
    return sum;
}

#endif  /* SN_FINGERPRINT_H */
