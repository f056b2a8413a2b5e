
7
sPlaceholder*
shape:ÿÿÿÿÿÿÿÿÿ*
dtype0

sameIdentitys*
T0
*
lengthsStringLengths*
unitBYTE"ª