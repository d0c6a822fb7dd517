/*
 * bcryptprimitives.dll for Wine 8, which lacks ProcessPrng.
 *
 * Go >= 1.24 Windows binaries fill their random numbers with
 * bcryptprimitives!ProcessPrng and refuse to start without it. This DLL
 * exports just that function, on top of advapi32!SystemFunction036
 * (RtlGenRandom), which Wine has. It goes into the prefix's
 * drive_c/windows/system32; nothing of Wine itself is changed.
 */
#include <windows.h>

typedef BOOLEAN(WINAPI *rtl_gen_random)(PVOID, ULONG);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	static rtl_gen_random gen;
	if (!gen) {
		HMODULE advapi = LoadLibraryA("advapi32.dll");
		if (!advapi)
			return FALSE;
		gen = (rtl_gen_random)GetProcAddress(advapi, "SystemFunction036");
		if (!gen)
			return FALSE;
	}
	while (len > 0) {
		ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!gen(data, chunk))
			return FALSE;
		data += chunk;
		len -= chunk;
	}
	return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst;
	(void)reason;
	(void)reserved;
	return TRUE;
}
