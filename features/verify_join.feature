Feature: Verify the join and the Intune enrollment
  After the join, dsregcmd, Settings and the admin portals agree on the device's state.

  Background:
    Given a Microsoft Entra tenant "Contoso" with the domain "contoso.com"
    And a licensed user "adele.vance@contoso.com" with the password "Blue-Harbor-42"
    And a Windows 11 PC that is not joined
    When I join this device to Microsoft Entra ID as "adele.vance@contoso.com"
    And I restart the device
    And I sign in as "adele.vance@contoso.com" using Other user

  Scenario: dsregcmd /status shows a cloud-only joined device
    When I open Command Prompt and run dsregcmd /status
    Then look for AzureAdJoined : YES
    And look for DomainJoined : NO (for cloud-only joined devices)
    And the output shows "EnterpriseJoined : NO"
    And the output shows "DeviceAuthStatus : SUCCESS"
    And the output shows "MdmUrl : https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc"

  Scenario: The device is enrolled in Intune
    Then the Info button is shown
    And the device appears in Intune admin center
    And the device is listed in Microsoft Entra ID as Microsoft Entra joined
